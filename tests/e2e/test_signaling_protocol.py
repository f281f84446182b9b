"""The signaling WebSocket (`wss://host/video/signal`, docs/video.md) against the real server.

Most tests speak RFC 6455 frame by frame through `signaling.RawWebSocket` (masking,
fragmentation, opcodes, pings under the test's control); a few use the `websockets` package as
an independent implementation. Sessions come from `POST /video/api/session` as the pages get them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.parse

import pytest
from websockets.sync.client import connect as websockets_connect

from conftest import BINARY, ApiClient
from signaling import (
    OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Closed, RawWebSocket, VideoCall, accept_for, connect,
    make_video_call, poll,
)

# Generous liveness deadlines; the server's own figures are in docs/video.md.
HELLO_TIMEOUT_DEADLINE = 20.0  # the server closes a silent socket after 10 s
VANISH_DEADLINE = 45.0  # no answer for 20 s is dead, then the 5 s resume grace
RESUME_GRACE = 5.0

# The server's message before a fatal close (error, replaced, declined, call-ended) is often
# lost: the close frame overtakes it (test_the_message_before_a_fatal_close_arrives). Until that
# is fixed, the other tests check the close code and the message only when it came.
FATAL_MESSAGE_MAY_BE_LOST = True


@pytest.fixture
def video_call(api, admin_token) -> VideoCall:
    return make_video_call(api, admin_token, patients=2)


@pytest.fixture
def sockets():
    """Every RawWebSocket a test opens is closed at its end."""
    opened: list[RawWebSocket] = []

    def track(socket: RawWebSocket) -> RawWebSocket:
        opened.append(socket)
        return socket

    yield track
    for socket in opened:
        socket.abort()


def joined(server, sockets, session: dict, label: str, **kw) -> tuple[RawWebSocket, dict]:
    """A socket that has said hello with `session`; returns it and the welcome."""
    ws = sockets(connect(server, label, **kw))
    welcome = ws.hello(session["token"])
    assert welcome["self"] == session["self"], f"{label}: welcome.self {welcome['self']} vs session {session['self']}"
    return ws, welcome


def closed_with(ws: RawWebSocket, close_code: int, kind: str, timeout: float = 10.0, **fields) -> dict | None:
    """Reads until the server closes: the close code must be `code`, and the last message
    before it of type `kind` (with `fields`)."""
    start = len(ws.received)
    got = ws.wait_closed(timeout)
    messages = ws.received[start:]
    assert got == close_code, f"{ws.label}: closed with {got} {ws.close_reason!r}, expected {close_code}; got {messages}"
    found = [m for m in messages if m["type"] == kind]
    if not found:
        assert FATAL_MESSAGE_MAY_BE_LOST, f"{ws.label}: no {kind} before close {close_code}; got {messages}"
        return None
    for name, value in fields.items():
        assert found[-1].get(name) == value, f"{ws.label}: {kind} {found[-1]} should have {name}={value!r}"
    return found[-1]


def wss_url(server) -> str:
    return server.base_url.replace("https://", "wss://", 1) + "/video/signal"


def ssl_context(server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.ca_path)


def logs_of(call: VideoCall, user_id: int) -> list[dict]:
    return [log for log in call.logs() if log["user_id"] == user_id]


# ---------------------------------------------------------------------------------------
# Handshake
# ---------------------------------------------------------------------------------------


def test_upgrade_answers_101_with_the_accept_key(server, sockets):
    ws = sockets(RawWebSocket(server, label="upgrade")).handshake()
    assert ws.status == 101
    headers = ws.response_headers
    assert headers.get("upgrade", "").lower() == "websocket", headers
    assert "upgrade" in headers.get("connection", "").lower(), headers
    assert headers.get("sec-websocket-accept") == accept_for(ws.key), headers


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Sec-WebSocket-Version": "8"}, 426),
        ({"Sec-WebSocket-Key": None}, 400),
        ({"Sec-WebSocket-Key": "dG9vIHNob3J0"}, 400),
        ({"Upgrade": None}, 400),
        ({"Connection": "keep-alive"}, 400),
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
    ],
    ids=["version-8", "no-key", "short-key", "no-upgrade", "no-connection-upgrade", "foreign-origin", "null-origin"],
)
def test_bad_upgrade_requests_are_refused(server, sockets, headers, status):
    ws = sockets(RawWebSocket(server, label="bad upgrade")).handshake(headers, expect=status)
    body = json.loads(ws.response_body)
    assert isinstance(body.get("message"), str) and body["message"], body
    if status == 426:
        assert ws.response_headers.get("sec-websocket-version") == "13", ws.response_headers
    if status == 403:
        assert body.get("code") == "foreign-origin" and headers["Origin"] in body["message"], body


@pytest.mark.parametrize(
    "origin", [None, "{base}", "{base_upper}"], ids=["no-origin (no browser)", "own-origin", "own-origin-upper-case"])
def test_the_pages_own_origin_and_non_browsers_may_open_the_socket(server, sockets, origin):
    if origin is not None:
        origin = origin.format(base=server.base_url, base_upper=server.base_url.upper().replace("HTTPS", "https"))
    ws = sockets(RawWebSocket(server, label="origin")).handshake({"Origin": origin})
    assert ws.status == 101


# ---------------------------------------------------------------------------------------
# hello
# ---------------------------------------------------------------------------------------


def test_hello_with_a_session_token_is_welcomed(server, sockets, video_call):
    session = video_call.doctor_session()
    assert session["doctor"] is True and session["self"]["role"] == "caller", session
    ws, welcome = joined(server, sockets, session, "doctor")
    assert isinstance(welcome["peer_id"], str) and len(welcome["peer_id"]) >= 8, welcome
    assert welcome["state"] == "in-call" and welcome["participants"] == [], welcome
    assert welcome["call"]["id"] == video_call.id and welcome["call"]["status"] == 1, welcome
    # Doctors hear who waits right after the welcome.
    assert ws.wait_for("waiting-list")["entries"] == []

    # The join is logged, with the doctor's user id and no TAN.
    [log] = poll("the doctor's call log entry", lambda: logs_of(video_call, session["self"]["id"]))
    assert log["end"] is None and log["tan"] is None, log
    ws.send_json({"type": "hello", "token": session["token"]})
    assert ws.wait_for("error")["code"] == "already-hello"


@pytest.mark.parametrize("token", ["x" * 48, "", None], ids=["unknown", "empty", "missing"])
def test_hello_with_an_invalid_token_is_refused_with_4004(server, sockets, token):
    ws = sockets(connect(server, "bad token"))
    ws.send_json({"type": "hello"} if token is None else {"type": "hello", "token": token})
    error = closed_with(ws, 4004, "error", code="session-invalid")
    assert error is None or error["message"], error


def test_messages_before_hello_are_refused_and_silence_is_closed(server, sockets):
    ws = sockets(connect(server, "no hello"))
    opened = time.monotonic()
    ws.send_json({"type": "signal", "to": "x", "data": {}})
    assert ws.wait_for("error")["code"] == "hello-first"
    ws.send_text("this is not JSON")
    assert ws.wait_for("error")["code"] == "bad-message"
    ws.send_json({"no": "type"})
    assert ws.wait_for("error")["code"] == "bad-message"
    code = ws.wait_closed(HELLO_TIMEOUT_DEADLINE)
    assert code == 4000, f"closed with {code} {ws.close_reason!r} after {time.monotonic() - opened:.1f} s"


def test_unknown_message_types_get_an_error(server, sockets, video_call):
    ws, _ = joined(server, sockets, video_call.doctor_session(), "doctor")
    ws.send_json({"type": "dance"})
    error = ws.wait_for("error")
    assert error["code"] == "unknown-type" and "dance" in error["message"], error
    # Not fatal: the socket still works.
    ws.send_json({"type": "signal", "to": "nobody", "data": {}})
    assert ws.wait_for("error")["code"] == "no-such-peer"


# ---------------------------------------------------------------------------------------
# Framing
# ---------------------------------------------------------------------------------------


def test_fragmented_hello_with_a_ping_in_between(server, sockets, video_call):
    session = video_call.doctor_session()
    ws = sockets(connect(server, "fragments"))
    text = json.dumps({"type": "hello", "token": session["token"]}).encode()
    parts = [text[:7], text[7:20], text[20:]]
    ws.send_frame(OP_TEXT, parts[0], fin=False)
    ws.send_frame(OP_CONT, parts[1], fin=False)
    ws.send_frame(OP_PING, b"mid-message")  # control frames may come between fragments
    ws.send_frame(OP_CONT, parts[2], fin=True)
    welcome = ws.wait_for("welcome")
    assert welcome["self"] == session["self"], welcome
    poll("a pong with the ping's payload",
         lambda: [p for p in ws.pongs if p.payload == b"mid-message"] or ws.collect(0.2) and None)

    # Server messages come as unmasked text frames (checked in RawWebSocket); an empty
    # fragment and a large multi-frame message are fine too.
    ws.send_frame(OP_TEXT, b"", fin=False)
    ws.send_frame(OP_CONT, json.dumps({"type": "signal", "to": "nobody", "data": {"x": "y" * 30000}}).encode())
    assert ws.wait_for("error")["code"] == "no-such-peer"


def test_unmasked_client_frames_are_a_protocol_error(server, sockets):
    ws = sockets(connect(server, "unmasked"))
    ws.send_text(json.dumps({"type": "hello", "token": "x"}), mask=False)
    assert ws.wait_closed() == 1002


def test_binary_frames_are_refused(server, sockets):
    ws = sockets(connect(server, "binary"))
    ws.send_frame(OP_BINARY, b"\x00\x01")
    assert ws.wait_closed() == 1003


def test_invalid_utf8_is_refused(server, sockets):
    ws = sockets(connect(server, "utf8"))
    ws.send_frame(OP_TEXT, b'{"type": "\xff"}')
    assert ws.wait_closed() == 1007


def test_client_close_is_answered(server, sockets, video_call):
    ws, _ = joined(server, sockets, video_call.doctor_session(), "closer")
    ws.send_frame(0x8, struct.pack("!H", 1000) + b"bye")
    assert ws.wait_closed() == 1000


def test_a_frame_over_64_kib_closes_with_1009(server, sockets, video_call):
    ws, _ = joined(server, sockets, video_call.doctor_session(), "oversize")
    big = json.dumps({"type": "signal", "to": "nobody", "data": {"sdp": "v" * (64 * 1024)}})
    assert len(big.encode()) > 64 * 1024
    ws.send_text(big)
    assert ws.wait_closed() == 1009


def test_a_fragmented_message_over_64_kib_closes_with_1009(server, sockets, video_call):
    ws, _ = joined(server, sockets, video_call.patient_session(), "oversize fragments")
    chunk = b"v" * 16384
    ws.send_frame(OP_TEXT, b'{"type": "signal", "to": "nobody", "data": "', fin=False)
    for _ in range(5):
        ws.send_frame(OP_CONT, chunk, fin=False)
    try:
        ws.send_frame(OP_CONT, b'"}', fin=True)
    except OSError:
        pass  # the server may have closed already
    assert ws.wait_closed() == 1009


def test_sending_too_fast_closes_with_1008(server, sockets, video_call):
    ws, _ = joined(server, sockets, video_call.doctor_session(), "flood")
    frame = RawWebSocket.encode_frame(OP_TEXT, b'{"type": "flood"}')
    try:
        ws.sock.sendall(frame * 400)  # far beyond a burst of 100 and 50 per second
    except OSError:
        pass
    assert ws.wait_closed() == 1008


def test_the_server_answers_pings_with_the_same_payload(server, sockets):
    ws = sockets(connect(server, "pinger"))
    ws.send_frame(OP_PING, b"are you there")
    poll("the pong", lambda: [p for p in ws.pongs if p.payload == b"are you there"] or ws.collect(0.2) and None)


# ---------------------------------------------------------------------------------------
# Presence: pings, vanishing, abrupt closes, resuming, replacing
# ---------------------------------------------------------------------------------------


def test_a_peer_that_answers_no_pings_vanishes(server, sockets, video_call):
    doctor_session, patient_session = video_call.doctor_session(), video_call.patient_session()
    doctor, _ = joined(server, sockets, doctor_session, "doctor")
    patient, welcome = joined(server, sockets, patient_session, "silent patient", answer_pings=False)
    doctor.wait_for("participant-joined", peer_id=welcome["peer_id"])

    started = time.monotonic()
    left = None
    patient_gone = None
    while left is None:
        assert time.monotonic() - started < VANISH_DEADLINE, (
            f"no participant-left within {VANISH_DEADLINE} s; doctor got {doctor.received[-10:]}, "
            f"patient saw {len(patient.pings)} pings, patient socket closed: {patient_gone}"
        )
        message = doctor.next_message(0.2)  # answers pings
        if message and message["type"] == "participant-left":
            left = message
        if patient_gone is None:
            try:
                patient.next_message(0.05)  # reads, never answers
            except Closed as closed:
                patient_gone = closed.code
    assert left["peer_id"] == welcome["peer_id"] and left["reason"] == "vanished", left
    assert left["participant"] == patient_session["self"], left
    assert len(patient.pings) >= 2, f"the server pings every 5 s; the patient saw {len(patient.pings)}"
    assert all(ping.payload == b"" or len(ping.payload) <= 125 for ping in patient.pings)
    assert len(doctor.pings) >= 2, "the doctor answered pings all along"
    # The doctor, who answered, is still there.
    doctor.send_json({"type": "signal", "to": "nobody", "data": {}})
    assert doctor.wait_for("error")["code"] == "no-such-peer"
    [log] = poll("the patient's log entry closed",
                 lambda: [l for l in logs_of(video_call, patient_session["self"]["id"]) if l["end"] is not None])
    assert log["tan"] == video_call.patients[0]["tan"], log


def test_an_abrupt_tcp_close_is_reported_after_the_resume_grace(server, sockets, video_call):
    doctor, _ = joined(server, sockets, video_call.doctor_session(), "doctor")
    patient_session = video_call.patient_session()
    patient, welcome = joined(server, sockets, patient_session, "patient")
    doctor.wait_for("participant-joined", peer_id=welcome["peer_id"])
    patient.abort()
    left = doctor.wait_for("participant-left", timeout=RESUME_GRACE + 20, peer_id=welcome["peer_id"])
    assert left["reason"] == "vanished" and left["participant"] == patient_session["self"], left
    [log] = logs_of(video_call, patient_session["self"]["id"])
    assert log["end"] is not None and log["duration"] >= 0, log


def test_resume_within_the_grace_keeps_the_peer(server, sockets, video_call):
    doctor_session = video_call.doctor_session()
    doctor, doctor_welcome = joined(server, sockets, doctor_session, "doctor")
    patient_session = video_call.patient_session()
    patient, welcome = joined(server, sockets, patient_session, "patient")
    peer_id = welcome["peer_id"]
    doctor.wait_for("participant-joined", peer_id=peer_id)
    poll("the patient's log entry", lambda: logs_of(video_call, patient_session["self"]["id"]))

    patient.abort()
    again = sockets(connect(server, "patient again"))
    resumed = again.hello(patient_session["token"], peer_id=peer_id)
    assert resumed["peer_id"] == peer_id and resumed["state"] == "in-call", resumed
    assert [p["peer_id"] for p in resumed["participants"]] == [doctor_welcome["peer_id"]], resumed

    # Past the grace: the doctor heard of no leaving and no new arrival.
    heard = doctor.collect(RESUME_GRACE + 3)
    presence = [m for m in heard if m["type"] in ("participant-left", "participant-joined")]
    assert presence == [], f"a resumed peer must not leave or join again: {presence}"
    logs = logs_of(video_call, patient_session["self"]["id"])
    assert len(logs) == 1 and logs[0]["end"] is None, f"resuming makes no new log entry: {logs}"

    # The resumed socket is the peer: signals reach it.
    doctor.send_json({"type": "signal", "to": peer_id, "data": {"candidate": "after resume"}})
    assert again.wait_for("signal")["data"] == {"candidate": "after resume"}


def test_resume_with_another_sessions_peer_id_is_a_new_peer(server, sockets, video_call):
    doctor, doctor_welcome = joined(server, sockets, video_call.doctor_session(), "doctor")
    patient_session = video_call.patient_session()
    patient = sockets(connect(server, "patient"))
    welcome = patient.hello(patient_session["token"], peer_id=doctor_welcome["peer_id"])
    assert welcome["peer_id"] != doctor_welcome["peer_id"], welcome
    doctor.wait_for("participant-joined", peer_id=welcome["peer_id"])


def test_a_second_session_of_the_same_tan_replaces_the_first(server, sockets, video_call):
    doctor, _ = joined(server, sockets, video_call.doctor_session(), "doctor")
    first_session = video_call.patient_session()
    first, first_welcome = joined(server, sockets, first_session, "first page")
    doctor.wait_for("participant-joined", peer_id=first_welcome["peer_id"])

    second_session = video_call.patient_session()
    assert second_session["token"] != first_session["token"]
    second, second_welcome = joined(server, sockets, second_session, "second page")
    assert second_welcome["peer_id"] != first_welcome["peer_id"]
    closed_with(first, 4001, "replaced")

    left = doctor.wait_for("participant-left", peer_id=first_welcome["peer_id"])
    assert left["reason"] == "replaced", left
    doctor.wait_for("participant-joined", peer_id=second_welcome["peer_id"])
    logs = logs_of(video_call, first_session["self"]["id"])
    assert sorted(log["end"] is None for log in logs) == [False, True], f"one closed, one open: {logs}"


def test_leave_closes_normally_and_is_reported(server, sockets, video_call):
    doctor, _ = joined(server, sockets, video_call.doctor_session(), "doctor")
    patient_session = video_call.patient_session()
    patient, welcome = joined(server, sockets, patient_session, "patient")
    doctor.wait_for("participant-joined", peer_id=welcome["peer_id"])
    patient.send_json({"type": "leave"})
    assert patient.wait_closed() == 1000
    left = doctor.wait_for("participant-left", peer_id=welcome["peer_id"])
    assert left["reason"] == "left" and left["participant"] == patient_session["self"], left
    [log] = poll("the closed log entry",
                 lambda: [l for l in logs_of(video_call, patient_session["self"]["id"]) if l["end"]])
    assert log["tan"] == video_call.patients[0]["tan"], log


# ---------------------------------------------------------------------------------------
# Relay, waiting area, admit and decline
# ---------------------------------------------------------------------------------------


def test_signals_are_relayed_unchanged_both_ways(server, sockets, video_call):
    doctor, doctor_welcome = joined(server, sockets, video_call.doctor_session(), "doctor")
    patient_session = video_call.patient_session()
    # The patient's side is the `websockets` package: an independent client implementation.
    with websockets_connect(wss_url(server), ssl=ssl_context(server), open_timeout=10, close_timeout=2) as patient:
        patient.send(json.dumps({"type": "hello", "token": patient_session["token"]}))
        welcome = json.loads(patient.recv(timeout=10))
        assert welcome["type"] == "welcome" and welcome["state"] == "in-call", welcome
        assert welcome["participants"] == [
            {"peer_id": doctor_welcome["peer_id"], "participant": doctor_welcome["self"]}
        ], welcome
        doctor.wait_for("participant-joined", peer_id=welcome["peer_id"])

        offer = {"description": {"type": "offer", "sdp": "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\n" + "a=x\r\n" * 2000},
                 "extra": [1, 2.5, None, True, {"ümlaut": "Grüße 🎥"}]}
        doctor.send_json({"type": "signal", "to": welcome["peer_id"], "data": offer})
        relayed = json.loads(patient.recv(timeout=10))
        assert relayed == {"type": "signal", "from": doctor_welcome["peer_id"], "data": offer}

        answer = {"candidate": {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host",
                                "sdpMid": "0", "sdpMLineIndex": 0}}
        patient.send(json.dumps({"type": "signal", "to": doctor_welcome["peer_id"], "data": answer}))
        back = doctor.wait_for("signal")
        assert back == {"type": "signal", "from": welcome["peer_id"], "data": answer}


def test_signal_to_an_unknown_peer_is_an_error(server, sockets, video_call):
    doctor, _ = joined(server, sockets, video_call.doctor_session(), "doctor")
    doctor.send_json({"type": "signal", "to": "nobody-at-all", "data": {"candidate": "x"}})
    error = doctor.wait_for("error")
    assert error["code"] == "no-such-peer" and error["message"], error
    doctor.send_json({"type": "signal", "data": {"candidate": "x"}})
    assert doctor.wait_for("error")["code"] == "no-such-peer"


def test_a_signal_to_a_peer_of_another_call_is_not_delivered(server, sockets, api, admin_token, video_call):
    doctor, _ = joined(server, sockets, video_call.doctor_session(), "doctor")
    other = make_video_call(api, admin_token)
    stranger, stranger_welcome = joined(server, sockets, other.patient_session(), "stranger")
    doctor.send_json({"type": "signal", "to": stranger_welcome["peer_id"], "data": {"candidate": "x"}})
    assert doctor.wait_for("error")["code"] == "no-such-peer"
    assert [m for m in stranger.collect(1) if m["type"] == "signal"] == []


def test_waiting_patient_enters_only_when_a_doctor_admits(server, sockets, video_call):
    # The patient comes first, through the waiting area; no doctor is there yet.
    waiting_session = video_call.patient_session(waiting_area=True)
    assert waiting_session["waiting_area"] is True and waiting_session["doctor"] is False, waiting_session
    patient, welcome = joined(server, sockets, waiting_session, "waiting patient")
    assert welcome["state"] == "waiting" and welcome["participants"] == [], welcome
    assert welcome["doctors_present"] is False, welcome
    patient_peer = welcome["peer_id"]

    # The doctor arrives later: the patient is still not in the call, but on the list.
    doctor, doctor_welcome = joined(server, sockets, video_call.doctor_session(), "doctor")
    assert doctor_welcome["state"] == "in-call" and doctor_welcome["participants"] == [], doctor_welcome
    entries = doctor.wait_for("waiting-list")["entries"]
    assert [e["peer_id"] for e in entries] == [patient_peer], entries
    assert entries[0]["participant"] == waiting_session["self"] and isinstance(entries[0]["since"], int), entries
    # The waiting patient hears that a doctor is there, and nothing of the call.
    patient.wait_for("waiting-status", doctors_present=True)
    overheard = [m for m in patient.collect(1) if m["type"] != "waiting-status"]
    assert overheard == [], f"a waiting patient hears nothing of the call: {overheard}"
    assert logs_of(video_call, waiting_session["self"]["id"]) == [], "not in the call: no log entry"

    # A patient in the call (the second TAN, straight in) cannot let anyone in.
    other, other_welcome = joined(server, sockets, video_call.patient_session(1), "other patient")
    other.send_json({"type": "admit", "peer_id": patient_peer})
    assert other.wait_for("error")["code"] == "forbidden"
    other.send_json({"type": "decline", "peer_id": patient_peer})
    assert other.wait_for("error")["code"] == "forbidden"
    # Nor can the waiting patient signal anybody.
    patient.send_json({"type": "signal", "to": doctor_welcome["peer_id"], "data": {}})
    assert patient.wait_for("error")["code"] == "not-in-call"

    doctor.send_json({"type": "admit", "peer_id": "not-waiting-at-all"})
    assert doctor.wait_for("error")["code"] == "not-waiting"
    doctor.send_json({"type": "admit", "peer_id": patient_peer})
    admitted = patient.wait_for("admitted")
    assert {p["peer_id"] for p in admitted["participants"]} == {doctor_welcome["peer_id"], other_welcome["peer_id"]}
    joined_msg = doctor.wait_for("participant-joined", peer_id=patient_peer)
    assert joined_msg["participant"] == waiting_session["self"], joined_msg
    assert doctor.wait_for("waiting-list")["entries"] == []
    [log] = poll("the admitted patient's log entry", lambda: logs_of(video_call, waiting_session["self"]["id"]))
    assert log["tan"] == video_call.patients[0]["tan"] and log["end"] is None, log

    # Now in the call, the patient exchanges signals.
    patient.send_json({"type": "signal", "to": doctor_welcome["peer_id"], "data": {"description": "offer"}})
    assert doctor.wait_for("signal", **{"from": patient_peer})["data"] == {"description": "offer"}


def test_a_declined_patient_is_closed_with_4003(server, sockets, video_call):
    doctor, _ = joined(server, sockets, video_call.doctor_session(), "doctor")
    doctor.wait_for("waiting-list")
    session = video_call.patient_session(waiting_area=True)
    patient, welcome = joined(server, sockets, session, "waiting patient")
    assert welcome["state"] == "waiting" and welcome["doctors_present"] is True, welcome
    entries = doctor.wait_for("waiting-list")["entries"]
    assert [e["peer_id"] for e in entries] == [welcome["peer_id"]], entries

    doctor.send_json({"type": "decline", "peer_id": welcome["peer_id"]})
    closed_with(patient, 4003, "declined")
    assert doctor.wait_for("waiting-list")["entries"] == []
    assert logs_of(video_call, session["self"]["id"]) == [], "a declined patient was never in the call"


def test_waiting_patients_stay_when_the_doctor_leaves(server, sockets, video_call):
    session = video_call.patient_session(waiting_area=True)
    patient, welcome = joined(server, sockets, session, "waiting patient")
    doctor_session = video_call.doctor_session()
    doctor, _ = joined(server, sockets, doctor_session, "doctor")
    assert [e["peer_id"] for e in doctor.wait_for("waiting-list")["entries"]] == [welcome["peer_id"]]
    patient.wait_for("waiting-status", doctors_present=True)
    doctor.send_json({"type": "leave"})
    assert doctor.wait_closed() == 1000
    patient.wait_for("waiting-status", doctors_present=False)
    # The next doctor (the same one, on a new page) sees the patient still waiting.
    again, _ = joined(server, sockets, video_call.doctor_session(), "doctor again")
    assert [e["peer_id"] for e in again.wait_for("waiting-list")["entries"]] == [welcome["peer_id"]]
    patient.wait_for("waiting-status", doctors_present=True)
    assert [m for m in patient.collect(0.5) if m["type"] in ("admitted", "declined")] == []


# ---------------------------------------------------------------------------------------
# The end of a call
# ---------------------------------------------------------------------------------------


def test_an_emptied_call_ends_after_the_grace_and_its_sessions_are_closed(server_factory):
    from conftest import ApiClient

    short = server_factory(label="short-grace server", end_grace_seconds=5)
    api = ApiClient(short)
    token = api.sign_in(short.admin_email, short.admin_password)
    call = make_video_call(api, token)
    doctor_session, patient_session = call.doctor_session(), call.patient_session()
    opened: list[RawWebSocket] = []
    try:
        doctor = connect(short, "doctor")
        opened.append(doctor)
        doctor.hello(doctor_session["token"])
        patient = connect(short, "patient")
        opened.append(patient)
        patient.hello(patient_session["token"])
        assert call.current()["status"] == 1
        patient.send_json({"type": "leave"})
        doctor.send_json({"type": "leave"})
        assert patient.wait_closed() == 1000 and doctor.wait_closed() == 1000
        ended = poll("status 2 after the grace", lambda: call.current()["status"] == 2, timeout=30)
        assert ended
        # Ended is final: the session's token and the TAN no longer enter.
        late = connect(short, "late")
        opened.append(late)
        late.send_json({"type": "hello", "token": patient_session["token"]})
        closed_with(late, 4004, "error", code="call-ended")
        refused = api.post("/video/api/session", {"call_id": call.id, "tan": call.patients[0]["tan"]})
        assert refused.status_code == 410 and refused.json()["code"] == "call-ended", refused.text
        logs = call.logs()
        assert len(logs) == 2 and all(log["end"] is not None for log in logs), logs
    finally:
        for ws in opened:
            ws.abort()


def test_a_deleted_call_ends_for_those_inside(server, sockets, api, admin_token):
    # Deleting is refused once a call has been held (409); a call nobody joined can go.
    call = make_video_call(api, admin_token)
    session = call.patient_session(waiting_area=True)
    patient, welcome = joined(server, sockets, session, "waiting patient")
    assert welcome["state"] == "waiting"
    api.delete(f"/api/v2/calls/{call.id}", token=admin_token, expect=204)
    closed_with(patient, 4002, "call-ended", timeout=20)


def test_the_message_before_a_fatal_close_arrives(server, sockets, video_call):
    lost = []
    for attempt in range(10):
        ws = sockets(connect(server, f"bad token {attempt}"))
        ws.send_json({"type": "hello", "token": "y" * 48})
        assert ws.wait_closed() == 4004
        if [m["type"] for m in ws.received] != ["error"]:
            lost.append(("error before 4004", [m["type"] for m in ws.received]))
        ws.abort()
    for attempt in range(5):
        first = sockets(connect(server, f"first {attempt}"))
        first.hello(video_call.patient_session()["token"])
        second = sockets(connect(server, f"second {attempt}"))
        second.hello(video_call.patient_session()["token"])
        assert first.wait_closed() == 4001
        if "replaced" not in [m["type"] for m in first.received]:
            lost.append(("replaced before 4001", [m["type"] for m in first.received]))
        first.abort()
    assert lost == [], f"{len(lost)} of 15 fatal closes came without their message: {lost}"


def ends_by(ws: RawWebSocket, deadline: float) -> bool:
    """Reads (the close frame, nothing after it) until the server ends the connection: True, or
    the deadline passes: False. Reads at least once, also when the deadline is already past."""
    try:
        while True:
            frame = ws.read_frame(max(0.01, deadline - time.monotonic()))
            assert frame is None or frame.opcode == 0x8, f"{ws.label}: a frame after the close: {frame}"
            if frame is None and time.monotonic() >= deadline:
                return False
    except Closed:
        return True


@pytest.mark.parametrize("who", ["client", "server"])
def test_the_server_ends_the_connection_after_the_closing_handshake(server, sockets, who):
    ws = sockets(connect(server, f"{who} closes"))
    if who == "client":
        ws.send_frame(0x8, struct.pack("!H", 1000))
        assert ws.wait_closed() == 1000
    else:
        ws.send_frame(OP_BINARY, b"x")  # the server closes with 1003; RawWebSocket answers the close
        assert ws.wait_closed() == 1003
    # The server gives a closing peer 2 s.
    assert ends_by(ws, time.monotonic() + 6), "the server did not end the connection within 6 s of the closing handshake"


def test_every_closed_websocket_is_ended(server, sockets):
    """Over TLS, libmicrohttpd 0.9.75's own close left about a fifth of these connections open
    until the client went (mhd_shim_close_tls_upgrade in shim.h closes in the safe order)."""
    opened = [sockets(connect(server, f"close {n}")) for n in range(40)]
    for n, ws in enumerate(opened):
        if n % 2:
            ws.send_frame(0x8, struct.pack("!H", 1000))  # the client closes
        else:
            ws.send_frame(OP_BINARY, b"x")  # the server closes with 1003 (unanswered here)
    deadline = time.monotonic() + 10  # the close timeout is 2 s
    still_open = [ws.label for ws in opened if not ends_by(ws, deadline)]
    assert not still_open, f"{len(still_open)} of 40 connections still open 10 s after the closing handshake"


# ---------------------------------------------------------------------------------------
# The TLS relay
# ---------------------------------------------------------------------------------------


class RecordCountingTLS:
    """A TLS client socket (ssl.MemoryBIO) that also records the length of every TLS record
    the server sends: what the socket API hides. Enough of a socket for RawWebSocket."""

    def __init__(self, server):
        url = urllib.parse.urlsplit(server.base_url)
        self.raw = socket.create_connection((url.hostname, url.port), timeout=10)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ssl_context(server).wrap_bio(self.incoming, self.outgoing, server_hostname=url.hostname)
        self.records: list[int] = []  # content lengths, in arrival order
        self.unparsed = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._receive()
        self._flush()

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.raw.sendall(data)

    def _receive(self) -> None:
        data = self.raw.recv(65536)
        if not data:
            raise ConnectionResetError("end of stream")
        self.unparsed += data
        while len(self.unparsed) >= 5:
            (length,) = struct.unpack("!H", self.unparsed[3:5])
            if len(self.unparsed) < 5 + length:
                break
            self.records.append(length)
            self.unparsed = self.unparsed[5 + length:]
        self.incoming.write(data)

    def settimeout(self, timeout: float) -> None:
        self.raw.settimeout(timeout)

    def sendall(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self.tls.read(size)
            except ssl.SSLWantReadError:
                self._receive()
                self._flush()

    def setsockopt(self, *args) -> None:
        self.raw.setsockopt(*args)

    def close(self) -> None:
        self.raw.close()


def test_messages_cross_the_tls_relay_in_whole_records(server, sockets, video_call):
    """libmicrohttpd 0.9.75 relays an upgraded TLS connection through an 8-byte buffer (4 bytes
    per TLS record, ~2 KB on the wire for a 300-byte message); the server gives it a real one
    (mhd_shim_widen_tls_relay in shim.h). The welcome must come in a few whole records."""
    ws = sockets(RawWebSocket(server, label="doctor"))
    tls = RecordCountingTLS(server)
    ws.sock = tls
    ws.handshake()
    before = len(tls.records)
    welcome = ws.hello(video_call.doctor_session()["token"])
    size = len(json.dumps(welcome, separators=(",", ":"), ensure_ascii=False).encode())
    records = tls.records[before:]
    assert size > 200, welcome
    # A record is its data plus a type byte and a 16-byte tag (TLS 1.3): 21 bytes before.
    assert len(records) <= 4 and max(records) >= size // 2, (
        f"a {size}-byte welcome came in {len(records)} records of {records[:40]} bytes")


# ---------------------------------------------------------------------------------------
# Many sockets closing at once
# ---------------------------------------------------------------------------------------

STORM_SOCKETS = 400
STORM_ROUNDS = 5


async def _storm_round(host: str, port: int, context: ssl.SSLContext, count: int) -> None:
    """Opens `count` TLS WebSockets (64 handshakes at a time), then ends all of them at once, a
    quarter each: TCP reset; close frame then reset; close frame then FIN; a message then FIN."""
    limit = asyncio.Semaphore(64)

    async def open_one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with limit:
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write((f"GET /video/signal HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            assert head.startswith(b"HTTP/1.1 101"), head[:80]
            return reader, writer

    def masked(opcode: int, payload: bytes) -> bytes:
        mask = os.urandom(4)
        return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(
            byte ^ mask[i % 4] for i, byte in enumerate(payload))

    opened = await asyncio.gather(*(open_one() for _ in range(count)))
    for index, (_, writer) in enumerate(opened):
        kind = index % 4
        if kind in (1, 2):
            writer.write(masked(0x8, struct.pack("!H", 1000)))
        elif kind == 3:
            writer.write(masked(OP_TEXT, b'{"type":"hello","token":"x"}'))
        if kind in (0, 1):
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()
    await asyncio.sleep(0.3)


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_many_tls_websockets_closing_at_once_leave_the_server_serving(server_factory):
    """Regression: closing hundreds of TLS WebSockets at once corrupted the heap (libmicrohttpd
    0.9.75 frees an upgraded connection while MHD_upgrade_action(CLOSE) still writes to it; see
    UpgradeCloseGate). The old code died in nearly every run of this test."""
    # Every socket comes from 127.0.0.1: no per-address limit (tested in test_api_live.py).
    storm = server_factory(label="close storm server", max_connections_per_address=0)
    assert storm.process is not None
    url = urllib.parse.urlsplit(storm.base_url)
    context = ssl.create_default_context(cafile=storm.ca_path)
    baseline = open_descriptors(storm.process.pid)
    for round_number in range(STORM_ROUNDS):
        asyncio.run(_storm_round(url.hostname, url.port, context, STORM_SOCKETS))
        assert storm.alive(), f"the server died in round {round_number + 1}:\n{storm.stderr_text()[-3000:]}"

    # Every closed socket is given back: the descriptors return to about where they were
    # (a socket whose peer only sent FIN goes when its 12 s idle timeout expires).
    deadline = time.monotonic() + 40
    while storm.alive() and open_descriptors(storm.process.pid) > baseline + 20 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert storm.alive(), f"the server died after the storm:\n{storm.stderr_text()[-3000:]}"
    assert open_descriptors(storm.process.pid) <= baseline + 20, (
        f"{open_descriptors(storm.process.pid)} descriptors open, {baseline} before the storm")

    # Still serving: the API, and a WebSocket that says hello with a real session.
    api = ApiClient(storm)
    token = api.sign_in(storm.admin_email, storm.admin_password)
    call = make_video_call(api, token, patients=1)
    ws = connect(storm, "after the storm")
    try:
        ws.hello(call.patient_session()["token"])
    finally:
        ws.close()
    assert storm.alive()


def test_session_refusals_carry_a_code(server, api, video_call):
    """Every refusal of the session API names its reason, so the page can show it."""
    wrong = api.post("/video/api/session", {"call_id": video_call.id, "email": server.admin_email,
                                            "password": "not the password"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "signin-failed", wrong.text
    incomplete = api.post("/video/api/session", {"call_id": video_call.id})
    assert incomplete.status_code == 422 and incomplete.json()["code"] == "invalid-request", incomplete.text
    assert "tan" in incomplete.json()["errors"]
    bad_tan = api.post("/video/api/session", {"tan": "AAAA-BBBB-CCCC"})
    assert bad_tan.status_code == 404 and bad_tan.json()["code"] == "tan-invalid", bad_tan.text


def test_the_session_names_the_practices_privacy_policy(server, api, video_call, server_factory, tmp_path):
    assert video_call.patient_session()["privacy_url"] is None  # the demo has none configured

    policy = "https://praxis.example/datenschutz"
    practice = server_factory(label="privacy server", privacy_url=policy)
    practice_api = ApiClient(practice)
    call = make_video_call(practice_api, practice_api.sign_in(practice.admin_email, practice.admin_password))
    session = call.patient_session(waiting_area=True)
    assert session["privacy_url"] == policy, session
    reloaded = practice_api.get("/video/api/session", token=session["token"], expect=200).json()
    assert reloaded["privacy_url"] == policy

    # Only plain http and https addresses: a javascript: link would run in the page.
    for bad in ["javascript:alert(1)", "https://praxis.example/ javascript:", "https://user:pw@praxis.example",
                "https://praxis.example:99999/", "https://%00/"]:
        refused = subprocess.run(
            [str(BINARY), "demo", "--port", "0", "--data-dir", str(tmp_path / "refused"), "--privacy-url", bad],
            capture_output=True, text=True, timeout=30)
        assert refused.returncode != 0 and "--privacy-url" in refused.stderr, (bad, refused.stderr)
