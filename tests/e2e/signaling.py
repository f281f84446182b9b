"""Helpers for the video tests: a raw RFC 6455 client over TLS, and calls with video sessions.

`RawWebSocket` writes and reads frames itself on an `ssl` socket, so that a test decides about
masking, fragmentation, opcodes and pings (and can stop answering pings or drop the TCP
connection without a goodbye). `VideoCall` makes a call through the API and redeems its
secrets at `POST /video/api/session` as the video pages do (docs/video.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from conftest import ApiClient, ServerProcess

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_for(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class Closed(Exception):
    """The connection is over: `code` from the server's close frame, or None when the TCP
    connection ended without one."""

    def __init__(self, code: int | None, reason: str = ""):
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


@dataclass
class Frame:
    fin: bool
    opcode: int
    payload: bytes
    masked: bool
    at: float


class RawWebSocket:
    """One WebSocket connection to the server, frame by frame."""

    def __init__(self, server: ServerProcess, path: str = "/video/signal", *, answer_pings: bool = True,
                 label: str = "ws"):
        self.server = server
        self.path = path
        self.answer_pings = answer_pings
        self.label = label
        self.sock: ssl.SSLSocket | None = None
        self.buffer = b""
        self.status: int | None = None
        self.response_headers: dict[str, str] = {}
        self.response_body = b""
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.pings: list[Frame] = []
        self.pongs: list[Frame] = []
        self.received: list[dict] = []  # every JSON message, in order (also those wait_for skipped)
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = False
        self._fragments: list[bytes] | None = None

    # -- connection --------------------------------------------------------------------

    def open_socket(self) -> ssl.SSLSocket:
        url = urllib.parse.urlsplit(self.server.base_url)
        context = ssl.create_default_context(cafile=self.server.ca_path)
        raw = socket.create_connection((url.hostname, url.port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname=url.hostname)
        return self.sock

    def handshake(self, headers: dict[str, str] | None = None, *, expect: int | None = 101) -> "RawWebSocket":
        """Sends the upgrade request (headers override the defaults; a value None leaves one out)."""
        url = urllib.parse.urlsplit(self.server.base_url)
        sent = {
            "Host": url.netloc,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": self.key,
            "Sec-WebSocket-Version": "13",
            "Origin": self.server.base_url,
        }
        sent.update(headers or {})
        if self.sock is None:
            self.open_socket()
        lines = [f"GET {self.path} HTTP/1.1"] + [f"{k}: {v}" for k, v in sent.items() if v is not None]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n", timeout=10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                self.response_headers[name.strip().lower()] = value.strip()
        if self.status != 101:
            length = int(self.response_headers.get("content-length", "0"))
            while len(self.buffer) < length:
                self._fill(timeout=10)
            self.response_body, self.buffer = self.buffer[:length], self.buffer[length:]
        if expect is not None:
            assert self.status == expect, (
                f"{self.label}: upgrade answered {self.status}, expected {expect}: {head!r} {self.response_body!r}"
            )
        return self

    def _fill(self, timeout: float) -> None:
        assert self.sock is not None
        self.sock.settimeout(max(0.01, timeout))
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as error:
            self.closed = True
            raise Closed(self.close_code, f"socket error {error!r}") from error
        if not data:
            self.closed = True
            raise Closed(self.close_code, "end of stream")
        self.buffer += data

    def _read_until(self, marker: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.label}: no {marker!r} within {timeout} s; got {self.buffer[:300]!r}")
            self._fill(remaining)
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _read_exactly(self, count: int, deadline: float) -> bytes:
        while len(self.buffer) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self._fill(remaining)
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    # -- frames ------------------------------------------------------------------------

    @staticmethod
    def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, (0x80 if mask else 0) | length)
        elif length < 65536:
            header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
        else:
            header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
        if not mask:
            return header + payload
        key = os.urandom(4)
        return header + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    def send_frame(self, opcode: int, payload: bytes = b"", **kw) -> None:
        assert self.sock is not None
        self.sock.sendall(self.encode_frame(opcode, payload, **kw))

    def send_text(self, text: str, **kw) -> None:
        self.send_frame(OP_TEXT, text.encode(), **kw)

    def send_json(self, message: dict, **kw) -> None:
        self.send_text(json.dumps(message), **kw)

    def read_frame(self, timeout: float) -> Frame | None:
        """The next frame, or None on timeout. Raises Closed at the end of the stream."""
        deadline = time.monotonic() + timeout
        try:
            head = self._read_exactly(2, deadline)
            fin, opcode = bool(head[0] & 0x80), head[0] & 0x0F
            masked, length = bool(head[1] & 0x80), head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read_exactly(2, deadline + 5))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read_exactly(8, deadline + 5))[0]
            key = self._read_exactly(4, deadline + 5) if masked else b""
            payload = self._read_exactly(length, deadline + 5)
        except TimeoutError:
            return None
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return Frame(fin, opcode, payload, masked, time.monotonic())

    def next_message(self, timeout: float) -> dict | None:
        """The next JSON text message (pings answered if `answer_pings`), None on timeout.
        Raises Closed when the server closes; its code is then in `close_code`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            frame = self.read_frame(remaining)
            if frame is None:
                return None
            assert not frame.masked, f"{self.label}: server frames must not be masked"
            if frame.opcode == OP_PING:
                self.pings.append(frame)
                if self.answer_pings and not self.closed:
                    self.send_frame(OP_PONG, frame.payload)
            elif frame.opcode == OP_PONG:
                self.pongs.append(frame)
            elif frame.opcode == OP_CLOSE:
                self.close_code = struct.unpack("!H", frame.payload[:2])[0] if len(frame.payload) >= 2 else 1005
                self.close_reason = frame.payload[2:].decode("utf-8", "replace")
                if not self.closed:
                    self.closed = True
                    try:
                        self.send_frame(OP_CLOSE, frame.payload[:2])
                    except OSError:
                        pass
                raise Closed(self.close_code, self.close_reason)
            elif frame.opcode in (OP_TEXT, OP_CONT):
                assert frame.opcode == OP_TEXT or self._fragments is not None, "continuation without a start"
                self._fragments = (self._fragments or []) + [frame.payload]
                if frame.fin:
                    text = b"".join(self._fragments).decode("utf-8")
                    self._fragments = None
                    message = json.loads(text)
                    assert isinstance(message, dict) and isinstance(message.get("type"), str), (
                        f"{self.label}: every server message is a JSON object with a type: {text[:300]!r}"
                    )
                    self.received.append(message)
                    return message
            else:
                raise AssertionError(f"{self.label}: unexpected opcode {frame.opcode:#x} from the server")

    def wait_for(self, kind: str, timeout: float = 10.0, **fields: Any) -> dict:
        """The first message of type `kind` (and the given field values) within `timeout`."""
        deadline = time.monotonic() + timeout
        start = len(self.received)
        while True:
            try:
                message = self.next_message(deadline - time.monotonic())
            except Closed as closed:
                raise AssertionError(
                    f"{self.label}: closed ({closed.code} {closed.reason!r}) while waiting for {kind} {fields}; "
                    f"received {self.received[start:]}"
                ) from None
            if message is None:
                raise AssertionError(
                    f"{self.label}: no {kind} {fields} within {timeout} s; received {self.received[start:]}"
                )
            if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
                return message

    def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Reads until the server closes; returns the close code (None: no close frame)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.label}: still open after {timeout} s; received {self.received[-10:]}"
                )
            try:
                self.next_message(remaining)
            except Closed as closed:
                return closed.code

    def collect(self, seconds: float) -> list[dict]:
        """Everything that arrives in the next `seconds` (the connection must stay open)."""
        deadline = time.monotonic() + seconds
        got = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = self.next_message(remaining)
            except Closed as closed:
                raise AssertionError(f"{self.label}: closed unexpectedly ({closed.code} {closed.reason!r}); "
                                     f"received {self.received[-10:]}") from None
            if message is not None:
                got.append(message)
        return got

    # -- protocol ----------------------------------------------------------------------

    def hello(self, token: str, peer_id: str | None = None, expect_state: str | None = None) -> dict:
        message = {"type": "hello", "token": token}
        if peer_id:
            message["peer_id"] = peer_id
        self.send_json(message)
        welcome = self.wait_for("welcome")
        if expect_state:
            assert welcome["state"] == expect_state, f"{self.label}: welcome {welcome}"
        return welcome

    def close(self, code: int = 1000) -> None:
        """A proper goodbye: close frame, wait for the server's, then end TCP."""
        if self.sock is None:
            return
        if not self.closed:
            try:
                self.send_frame(OP_CLOSE, struct.pack("!H", code))
                self.wait_closed(5)
            except (OSError, AssertionError):
                pass
        self.abort()

    def abort(self) -> None:
        """Ends the TCP connection at once (RST), without close frame or TLS goodbye."""
        if self.sock is None:
            return
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = None
        self.closed = True


def connect(server: ServerProcess, label: str = "ws", **kw) -> RawWebSocket:
    return RawWebSocket(server, label=label, **kw).handshake()


# ---------------------------------------------------------------------------------------
# Calls with video sessions
# ---------------------------------------------------------------------------------------


@dataclass
class VideoCall:
    """A call made by the demo admin (caller) with TAN participants."""

    api: ApiClient
    admin_token: str
    call: dict
    patients: list[dict] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.call["id"]

    def session(self, body: dict, expect: int = 201) -> dict:
        response = self.api.post("/video/api/session", body, expect=expect)
        return response.json()

    def doctor_session(self) -> dict:
        server = self.api.server
        return self.session({"call_id": self.id, "email": server.admin_email, "password": server.admin_password})

    def patient_session(self, index: int = 0, *, waiting_area: bool = False) -> dict:
        tan = self.patients[index]["tan"]
        return self.session({"tan": tan} if waiting_area else {"call_id": self.id, "tan": tan})

    def logs(self) -> list[dict]:
        return self.api.get("/api/v2/calllogs", token=self.admin_token,
                            params={"call_id": str(self.id), "per_page": "1000"}, expect=200).json()["data"]

    def current(self) -> dict:
        return self.api.get(f"/api/v2/calls/{self.id}", token=self.admin_token, expect=200).json()["data"]


def make_video_call(api: ApiClient, admin_token: str, patients: int = 1, **fields) -> VideoCall:
    body: dict[str, Any] = {"duration": 30, "call_type": "tan"}
    if patients >= 1:
        body["tan_username"] = "Paula Patientin"
    if patients >= 2:
        body["additional_callees"] = [{"name": f"Peter Patient {n}"} for n in range(2, patients + 1)]
    body.update(fields)
    response = api.post("/api/v2/calls", body, token=admin_token)
    assert response.status_code == 201, f"create call: {response.status_code} {response.text[:500]}"
    call = response.json()["data"]
    tan_users = [u for u in call["users"] if u["role_name"] == "tanuser"]
    for user in tan_users:
        api.server.secrets.add(user["tan"])  # never in the log
    return VideoCall(api, admin_token, call, tan_users)


def poll(what: str, probe, timeout: float = 10.0, interval: float = 0.2):
    """Calls `probe()` until it returns something truthy; fails with the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s; last seen: {last!r}")
