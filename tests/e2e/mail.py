"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and an SMS gateway
(an HTTP server taking the documented JSON POST), both on loopback."""

from __future__ import annotations

import asyncio
import email
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import icalendar
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ReceivedMail:
    envelope_from: str
    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""

    def calendar(self) -> icalendar.Calendar | None:
        for part in self.message.walk():
            if part.get_content_type() == "text/calendar":
                return icalendar.Calendar.from_ical(part.get_content())
        return None

    def event(self):
        calendar = self.calendar()
        assert calendar is not None, f"no text/calendar part in the mail to {self.recipients}"
        events = list(calendar.walk("VEVENT"))
        assert len(events) == 1, f"expected one VEVENT, got {len(events)}"
        return calendar, events[0]


class _Handler:
    def __init__(self, sink: "SMTPSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].startswith("bounce"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        # A client that went away before the reply has not handed the message over (RFC 5321:
        # responsibility passes with the 250), so it is not counted as received.
        if server.transport is None or server.transport.is_closing():
            return "451 4.3.0 client gone"
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        with self.sink.lock:
            self.sink.mails.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 2.0.0 accepted"


class SMTPSink:
    """aiosmtpd on 127.0.0.1:port; `stop()` and `start()` take it down and bring it back."""

    def __init__(self, port: int | None = None, delay: float = 0.0):
        self.port = port or free_port()
        self.delay = delay
        self.mails: list[ReceivedMail] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    def start(self) -> "SMTPSink":
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self) -> list[ReceivedMail]:
        with self.lock:
            return list(self.mails)

    def to(self, address: str) -> list[ReceivedMail]:
        return [mail for mail in self.received() if address in mail.recipients]

    def wait_for(self, count: int, timeout: float = 30.0, what: str = "mails") -> list[ReceivedMail]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = self.received()
            if len(mails) >= count:
                return mails
            time.sleep(0.1)
        got = [(m.recipients, m.message["Subject"]) for m in self.received()]
        raise AssertionError(f"expected {count} {what} within {timeout:.0f} s, got {len(got)}: {got}")


@dataclass
class SMSGateway:
    """The documented SMS gateway interface: POST JSON {to, text, reference, ...} with a bearer token."""

    token: str
    port: int = field(default_factory=free_port)
    messages: list[dict] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def start(self) -> "SMSGateway":
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.headers.get("Authorization") != f"Bearer {gateway.token}":
                    gateway.rejected.append(self.headers.get("Authorization", ""))
                    self.send_response(401)
                    self.end_headers()
                    return
                message = json.loads(body)
                message["_headers"] = {k.lower(): v for k, v in self.headers.items()}
                gateway.messages.append(message)
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"accepted": true}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return list(self.messages)
            time.sleep(0.1)
        raise AssertionError(f"expected {count} SMS within {timeout:.0f} s, got {self.messages}")
