"""The calls, one-time-password, delete-call and call-log parts of the integrators' notebook.

Written the way an integrator's script does it: access data from config.ini (configparser),
a hostname, REQUESTS_CA_BUNDLE pointing at the server's certificate, and a small `fetch`
helper around requests. The two doctors the notebook refers to by id ("Arzt1", "Arzt2") are
made once for this module through the users API. Call sessions cannot be held yet (the video
pages come later), so the call-log tests let `seed_call_session` stand in for the video service.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from configparser import ConfigParser
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from conftest import SeededSession, seed_call_session

TAN_PATTERN = re.compile(r"[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}")
CALL_KEYS = {
    "id", "created_at", "updated_at", "deleted_at", "settings", "parent", "children", "begin", "duration", "room",
    "status", "extid", "description", "extendable", "source", "users",
}
PARTICIPANT_KEYS = {
    "id", "user_name", "status", "gender", "company_id", "company_name", "ousubsidiary_id", "oulocation_id",
    "department_id", "department_name", "role_id", "role_name", "tan", "tan_valid_until", "log_id", "email",
    "mobile", "consentstatus",
}


class Notebook:
    """What the notebook's cells share: the hostname and a fetch helper that raises on errors."""

    def __init__(self, config: ConfigParser):
        self.config = config
        self.hostname = config["server"]["hostname"]

    def fetch(self, method, path, data=None, token=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        reply = requests.request(method, f"https://{self.hostname}{path}", json=data, headers=headers, timeout=60)
        if reply.status_code >= 400:
            raise RuntimeError(f"HTTP {reply.status_code} for {method} {path}: {reply.text}")
        return reply.json()

    def login(self):
        answer = self.fetch("POST", "/api/v2/auth", {"email": self.config["credentials"]["email"],
                                                     "password": self.config["credentials"]["password"]})
        return answer["access_token"]

    def client_login(self):
        # The OTP cell reads `token` from the client sign-in, not `access_token`.
        answer = self.fetch("POST", "/api/v2/client", {"client_id": self.config["client_credentials"]["client_id"],
                                                       "pw": self.config["client_credentials"]["client_password"]})
        return answer["token"]


@pytest.fixture
def notebook(config, trust_demo_certificate) -> Notebook:
    return Notebook(config)


@pytest.fixture
def token(notebook) -> str:
    return notebook.login()


@pytest.fixture(scope="module")
def arzt1(api, admin_token) -> dict:
    return api.create_user(admin_token, role=2, name="Arzt1 Code-Beispiele",
                           email=f"arzt1-{uuid.uuid4().hex[:8]}@praxis-e2e.example")


@pytest.fixture(scope="module")
def arzt2(api, admin_token) -> dict:
    return api.create_user(admin_token, role=2, name="Arzt2 Code Beispiel",
                           email=f"arzt2-{uuid.uuid4().hex[:8]}@praxis-e2e.example")


@pytest.fixture
def me(notebook, token, config) -> dict:
    """The admin account of config.ini as the users API shows it."""
    email = config["credentials"]["email"].lower()
    found = [u for u in notebook.fetch("GET", f"/api/v2/users?per_page=100&search={email}", token=token)["data"]
             if u["email"] == email]
    assert len(found) == 1, f"the admin of config.ini is not in the users list: {found}"
    return found[0]


# ---------------------------------------------------------------------------------------
# What the notebook does with a created call
# ---------------------------------------------------------------------------------------


def utc(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def join_links(hostname: str, call: dict) -> list[tuple[dict, str]]:
    """Every participant with the link the notebook prints for them."""
    links = []
    for user in call["users"]:
        if user["role_name"] == "tanuser" or user["tan"]:
            links.append((user, f"https://{hostname}/video/{call['id']}?tan={user['tan']}"))
        else:
            links.append((user, f"https://{hostname}/video/{call['id']}"))
    return links


def check_call(call: dict, before: int, roles: list[str], me: dict, callees: list[dict]) -> list[dict]:
    """The checks every creation scenario shares; returns the TAN users."""
    now = int(time.time())
    assert CALL_KEYS <= set(call), f"the call lacks {sorted(CALL_KEYS - set(call))}"
    assert isinstance(call["id"], int) and call["id"] > 0
    assert before - 5 <= call["created_at"] <= now + 5
    assert call["deleted_at"] is None
    assert call["duration"] == 15
    assert call["status"] == 0, "a new call is planned (status 0)"
    assert isinstance(call["begin"], int) and before - 5 <= call["begin"] <= now + 5, (
        f"begin defaults to the moment of creation, got {call['begin']!r}"
    )
    assert re.fullmatch(r"[A-Za-z0-9]{20,}", call["room"]), f"room {call['room']!r}"
    assert call["settings"]["timings"] == {"lead_time_create": 0, "lead_time_cancel": 0}
    assert "queue_type" in call["settings"] and "offline" in call["settings"]

    users = call["users"]
    for user in users:
        assert PARTICIPANT_KEYS <= set(user), f"participant lacks {sorted(PARTICIPANT_KEYS - set(user))}"
    assert [u["role_name"] for u in users] == roles, (
        "participants come as the notebook shows them: TAN users, callees, then the caller"
    )
    assert len({u["id"] for u in users}) == len(users), "each participant once"

    caller = [u for u in users if u["role_name"] == "caller"]
    assert len(caller) == 1
    assert caller[0]["id"] == me["id"], "the admin who created the call is its caller"
    assert caller[0]["user_name"] == me["name"]
    assert caller[0]["email"] == me["email"]

    listed_callees = [u for u in users if u["role_name"] == "callee"]
    assert [u["id"] for u in listed_callees] == [d["id"] for d in callees]
    for entry, doctor in zip(listed_callees, callees):
        assert entry["user_name"] == doctor["name"]
        assert entry["email"] == doctor["email"]
        assert entry["company_id"] == doctor["company_id"]

    tan_users = [u for u in users if u["role_name"] == "tanuser"]
    for user in tan_users:
        assert user["role_id"] == 1
        assert TAN_PATTERN.fullmatch(user["tan"]), f"TAN {user['tan']!r} is not XXXX-XXXX-XXXX"
        assert isinstance(user["tan_valid_until"], int) and user["tan_valid_until"] > now, "the TAN must be valid"
        assert user["tan_valid_until"] >= call["begin"] + 15 * 60, "the TAN must last at least until the planned end"
    for user in users:
        if user["role_name"] != "tanuser":
            assert not user["tan"], f"ak user {user['user_name']} must not get a TAN"
    tans = [u["tan"] for u in tan_users]
    assert len(set(tans)) == len(tans), "every TAN user gets an own TAN"
    return tan_users


def check_links(notebook: Notebook, call: dict) -> None:
    links = join_links(notebook.hostname, call)
    assert len(links) == len(call["users"])
    for user, url in links:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc == notebook.hostname
        assert parts.path == f"/video/{call['id']}"
        if user["role_name"] == "tanuser":
            assert parse_qs(parts.query) == {"tan": [user["tan"]]}, url
            assert re.fullmatch(rf"https://{re.escape(notebook.hostname)}/video/{call['id']}\?tan="
                                r"[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}", url), url
        else:
            assert parts.query == "", f"ak users sign in on the video page; no TAN in their link: {url}"


# ---------------------------------------------------------------------------------------
# Create calls: the four scenarios
# ---------------------------------------------------------------------------------------


def test_one_doctor_and_one_tan_user_with_email(notebook, token, me, arzt1):
    before = int(time.time())
    call = notebook.fetch("POST", "/api/v2/calls", {
        "duration": 15,
        "tan_username": "TAN-User1",
        "tan_email": "TAN-User1@Praxis-E2E.example",
        "tan_data_agreed": True,
        "call_type": "tan",
        "additional_callees": [{"user_id": arzt1["id"]}],
    }, token)["data"]

    tan_users = check_call(call, before, ["tanuser", "callee", "caller"], me, [arzt1])
    patient = tan_users[0]
    assert patient["user_name"] == "TAN-User1"
    assert patient["email"] == "tan-user1@praxis-e2e.example", "the TAN user's e-mail is stored lower-case"
    assert patient["consentstatus"]["tan_data_agreed"] is True
    # What the notebook returns from this cell.
    assert next(u["tan"] for u in call["users"] if u["role_name"] == "tanuser") == patient["tan"]
    check_links(notebook, call)

    shown = notebook.fetch("GET", f"/api/v2/calls/{call['id']}", token=token)["data"]
    assert shown == call, "GET must show the call as it was created"


def test_one_doctor_and_two_tan_users(notebook, token, me, arzt1):
    before = int(time.time())
    call = notebook.fetch("POST", "/api/v2/calls", {
        "duration": 15,
        "tan_username": "TAN-User1",
        "tan_email": "TAN-User1@Praxis-E2E.example",
        "tan_data_agreed": True,
        "call_type": "tan",
        "additional_callees": [{"name": "TAN2", "user_id": arzt1["id"]}],
    }, token)["data"]

    tan_users = check_call(call, before, ["tanuser", "tanuser", "callee", "caller"], me, [arzt1])
    assert [u["user_name"] for u in tan_users] == ["TAN-User1", "TAN2"]
    assert tan_users[0]["email"] == "tan-user1@praxis-e2e.example"
    assert tan_users[1]["email"] in ("", None), "TAN2 was given no e-mail"
    check_links(notebook, call)


def test_two_doctors_and_one_tan_user_without_email(notebook, token, me, arzt1, arzt2):
    before = int(time.time())
    call = notebook.fetch("POST", "/api/v2/calls", {
        "duration": 15,
        "tan_username": "TAN-User1",
        "call_type": "tan",
        "additional_callees": [{"user_id": arzt1["id"]}, {"user_id": arzt2["id"]}],
    }, token)["data"]

    tan_users = check_call(call, before, ["tanuser", "callee", "callee", "caller"], me, [arzt1, arzt2])
    assert tan_users[0]["email"] == "", "the notebook shows an empty e-mail for a TAN user without one"
    assert tan_users[0]["consentstatus"]["tan_data_agreed"] is False
    check_links(notebook, call)
    doctor_links = [url for user, url in join_links(notebook.hostname, call) if user["role_name"] == "callee"]
    assert doctor_links == [f"https://{notebook.hostname}/video/{call['id']}"] * 2


def test_two_doctors_without_tan_user(notebook, token, me, arzt1, arzt2):
    before = int(time.time())
    call = notebook.fetch("POST", "/api/v2/calls", {
        "duration": 15,
        "call_type": "tan",
        "additional_callees": [{"user_id": arzt1["id"]}, {"user_id": arzt2["id"]}],
    }, token)["data"]

    assert check_call(call, before, ["callee", "callee", "caller"], me, [arzt1, arzt2]) == []
    check_links(notebook, call)
    assert {url for _, url in join_links(notebook.hostname, call)} == {
        f"https://{notebook.hostname}/video/{call['id']}"
    }


# ---------------------------------------------------------------------------------------
# One-time password
# ---------------------------------------------------------------------------------------


def test_one_time_password_for_the_doctor(notebook, token, me, arzt1):
    call = notebook.fetch("POST", "/api/v2/calls", {
        "duration": 15,
        "tan_username": "TAN-User1",
        "tan_email": "TAN-User1@Praxis-E2E.example",
        "tan_data_agreed": True,
        "call_type": "tan",
        "additional_callees": [{"user_id": arzt1["id"]}],
    }, token)["data"]
    call_id = call["id"]
    callee = next(u for u in call["users"] if u["role_name"] == "callee")
    assert callee["id"] == arzt1["id"]

    client_token = notebook.client_login()
    asked_at = time.time()
    otp_response = notebook.fetch("POST", "/api/ext/createScopedToken", {
        "email": arzt1["email"],
        "scope_type": "call",
        "scope_id": call_id,
    }, client_token)

    assert set(otp_response) >= {"token", "valid_until"}
    otp = otp_response["token"]
    assert isinstance(otp, str) and re.fullmatch(r"[A-Za-z0-9]{32,}", otp), f"one-time password {otp!r}"
    assert isinstance(otp_response["valid_until"], int)
    assert asked_at + 55 <= otp_response["valid_until"] <= asked_at + 65, (
        f"valid_until {otp_response['valid_until']} is not about 60 s after {asked_at:.0f}"
    )

    base64_otp = base64.b64encode(otp.encode()).decode()
    assert "+" not in base64_otp and "/" not in base64_otp, "base64 of the one-time password must be URL-safe as is"
    video_url = f"https://{notebook.hostname}/video/{call_id}?tid={base64_otp}"
    parts = urlsplit(video_url)
    assert parts.path == f"/video/{call_id}"
    assert base64.b64decode(parse_qs(parts.query)["tid"][0]).decode() == otp

    # A new one for the next time the doctor joins: never the same password twice.
    again = notebook.fetch("POST", "/api/ext/createScopedToken", {
        "email": arzt1["email"], "scope_type": "call", "scope_id": call_id,
    }, client_token)
    assert again["token"] != otp


# ---------------------------------------------------------------------------------------
# Delete call
# ---------------------------------------------------------------------------------------


def test_delete_call(notebook, token, arzt1):
    call = notebook.fetch("POST", "/api/v2/calls", {
        "duration": 15, "tan_username": "TAN-User1", "call_type": "tan",
        "additional_callees": [{"user_id": arzt1["id"]}],
    }, token)["data"]
    call_id = call["id"]

    response = requests.delete(f"https://{notebook.hostname}/api/v2/calls/{call_id}",
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                               timeout=60)
    assert response.status_code == 204, f"delete: {response.status_code} {response.text}"
    assert response.content == b""

    with pytest.raises(RuntimeError, match="HTTP 404"):
        notebook.fetch("GET", f"/api/v2/calls/{call_id}", token=token)
    listed = notebook.fetch("GET", "/api/v2/calls?page=1", token=token)["data"]
    assert call_id not in [c["id"] for c in listed]


# ---------------------------------------------------------------------------------------
# Call logs
# ---------------------------------------------------------------------------------------


def get_all_users(notebook: Notebook, token: str) -> dict:
    users = notebook.fetch("GET", "/api/v2/users?per_page=100", token=token)["data"]
    return {u["id"]: {"display": u.get("name", ""), "company": u.get("company_id", ""),
                      "oulocation_name": u.get("oulocation_name", ""),
                      "department_name": u.get("department_name", "")} for u in users if u.get("id")}


def call_log_table(notebook: Notebook, token: str, user_store: dict) -> list[dict]:
    """The plain call-log table: start is computed as end - duration."""
    logs = notebook.fetch("GET", "/api/v2/calllogs?per_page=10000", {}, token)["data"]
    rows = []
    for log in logs:
        info = user_store.get(log["user_id"], {})
        rows.append({
            "log id": log["id"],
            "call_id": log["call_id"],
            "created_at": utc(log["created_at"]),
            "updated_at": utc(log["updated_at"]),
            "deleted_at": utc(log["deleted_at"]) if log["deleted_at"] else None,
            "start": utc(log["end"] - log["duration"] if log.get("duration") and log.get("end") else 0),
            "end": utc(log["end"]) if log.get("end") else None,
            "duration in seconds": log["duration"],
            "user_id": log["user_id"],
            "user": info.get("display"),
            "company id": info.get("company"),
        })
    return rows


def logs_and_calls_table(notebook: Notebook, token: str, user_store: dict) -> tuple[list[dict], list[dict]]:
    """The extended table: call-log rows followed by one row per call of the first calls page."""
    logs = notebook.fetch("GET", "/api/v2/calllogs?per_page=10000", token=token).get("data", [])
    calls = notebook.fetch("GET", "/api/v2/calls?page=1", token=token).get("data", [])
    rows = []
    for log in logs:
        info = user_store.get(log["user_id"], {})
        rows.append({
            "kind": "log",
            "log id": log["id"],
            "call_id": log["call_id"],
            "start": utc(log["created_at"]),
            "end": utc(log["end"]) if log.get("end") else None,
            "duration in seconds": log.get("duration", 0),
            "user_id": log["user_id"],
            "user": info.get("display"),
            "company id": info.get("company"),
            "oulocation_name": info.get("oulocation_name", ""),
            "department_name": info.get("department_name", ""),
            "tan": log.get("tan", ""),
            "status_codes": log.get("status_codes", ""),
        })
    for call in calls:
        first = call["users"][0] if call["users"] else {}
        rows.append({
            "kind": "call",
            "log id": call["id"],
            "call_id": call["extid"],  # the notebook files the integrator's own id here
            "start": utc(call["begin"]),
            "end": utc(call["end"]) if call.get("end") else None,
            "duration in seconds": call.get("duration", 0),
            "user_id": first.get("id"),
            "user": first.get("user_name"),
            "company id": first.get("company_id"),
            "tan": first.get("tan", ""),
            "status_codes": call.get("status", ""),
        })
    return rows, calls


def held_call(notebook: Notebook, token: str, doctor: dict, me: dict, extid: str | None = None):
    """A call like the first scenario, then three sessions as the video service would log them."""
    body = {"duration": 15, "tan_username": "TAN-User1", "tan_email": "TAN-User1@Praxis-E2E.example",
            "tan_data_agreed": True, "call_type": "tan", "additional_callees": [{"user_id": doctor["id"]}]}
    if extid:
        body["extid"] = extid
    call = notebook.fetch("POST", "/api/v2/calls", body, token)["data"]
    patient = next(u for u in call["users"] if u["role_name"] == "tanuser")
    t0 = int(time.time()) - 900
    sessions = [
        SeededSession(patient["id"], t0, t0 + 81, tan=patient["tan"]),
        SeededSession(doctor["id"], t0 + 5, t0 + 69),
        SeededSession(me["id"], t0 + 10, t0 + 33),
    ]
    return call, patient, sessions


def test_call_log_table(notebook, token, server, me, arzt1):
    call, patient, sessions = held_call(notebook, token, arzt1, me)
    log_ids = seed_call_session(server, call["id"], sessions)

    user_store = get_all_users(notebook, token)
    assert arzt1["id"] in user_store and me["id"] in user_store, (
        "the doctor and the admin must be among the first 100 users (did the demo company grow past 100?)"
    )
    table = call_log_table(notebook, token, user_store)
    ours = [row for row in table if row["call_id"] == call["id"]]
    assert sorted(row["log id"] for row in ours) == sorted(log_ids), f"log rows of call {call['id']}: {ours}"

    by_id = {row["log id"]: row for row in ours}
    for log_id, session in zip(log_ids, sessions):
        row = by_id[log_id]
        assert row["user_id"] == session.user_id
        assert row["duration in seconds"] == session.left - session.joined
        assert row["created_at"] == utc(session.joined)
        assert row["end"] == utc(session.left)
        assert row["start"] == row["created_at"], "start = end - duration must be the moment of joining"
        assert row["deleted_at"] is None
    doctor_row = by_id[log_ids[1]]
    assert (doctor_row["user"], doctor_row["company id"]) == ("Arzt1 Code-Beispiele", arzt1["company_id"])
    admin_row = by_id[log_ids[2]]
    assert (admin_row["user"], admin_row["company id"]) == (me["name"], me["company_id"])
    patient_row = by_id[log_ids[0]]
    assert patient_row["user_id"] == patient["id"], "a patient's log carries the TAN user's id from the call"
    assert patient_row["user"] is None, "TAN users are not ak users, so the user list does not name them"


def test_call_log_and_calls_table(notebook, token, server, me, arzt1):
    extid = f"kis-{uuid.uuid4().hex[:8]}"
    call, patient, sessions = held_call(notebook, token, arzt1, me, extid=extid)
    log_ids = seed_call_session(server, call["id"], sessions)

    user_store = get_all_users(notebook, token)
    table, calls = logs_and_calls_table(notebook, token, user_store)
    assert calls and calls[0]["id"] == call["id"], "the first calls page starts with the newest call"

    log_rows = {row["log id"]: row for row in table if row["kind"] == "log" and row["call_id"] == call["id"]}
    assert sorted(log_rows) == sorted(log_ids)
    patient_row = log_rows[log_ids[0]]
    assert patient_row["tan"] == patient["tan"], "a patient's log carries the TAN used"
    assert patient_row["start"] == utc(sessions[0].joined) and patient_row["end"] == utc(sessions[0].left)
    assert patient_row["duration in seconds"] == 81
    assert "status_codes" in patient_row and patient_row["status_codes"] != ""
    doctor_row = log_rows[log_ids[1]]
    assert doctor_row["user"] == "Arzt1 Code-Beispiele" and doctor_row["company id"] == arzt1["company_id"]
    assert "oulocation_name" in user_store[arzt1["id"]] and "department_name" in user_store[arzt1["id"]]

    call_rows = [row for row in table if row["kind"] == "call" and row["log id"] == call["id"]]
    assert len(call_rows) == 1
    row = call_rows[0]
    assert row["call_id"] == extid
    assert row["start"] == utc(call["begin"])
    assert row["duration in seconds"] == 15
    assert (row["user_id"], row["user"], row["tan"]) == (patient["id"], "TAN-User1", patient["tan"])
    assert row["company id"] is None, "a TAN user belongs to no company"
    # Everyone left minutes ago: running, or ended once the server's idle check (every 5 s,
    # 30 s grace) has seen the empty room.
    assert row["status_codes"] in (1, 2), "a call somebody has joined is running (1) or ended (2)"
