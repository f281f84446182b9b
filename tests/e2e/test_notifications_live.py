"""Appointment notifications over real transports: a real SMTP server (aiosmtpd) and an SMS
gateway (a local HTTP receiver) on loopback, against the real binary.

What is proven here: creating, rescheduling and cancelling an appointment delivers the right
messages to the right recipients, with an iCalendar entry that parses and carries the right
METHOD, UID and SEQUENCE; an SMTP server that is down and comes back gets every message exactly
once; a process killed with SIGKILL in the middle of a delivery run, restarted, still delivers
every message once; a refused patient address becomes notification 4001; without SMTP the
messages wait in the outbox, readable by admins only.
"""

from __future__ import annotations

import collections
import signal
import time
import uuid

import pytest

from conftest import ApiClient, ServerProcess, make_tenant, unique_email
from mail import SMSGateway, SMTPSink, free_port

SMS_TOKEN = "gateway-token-" + uuid.uuid4().hex


@pytest.fixture
def smtp():
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def sms():
    gateway = SMSGateway(token=SMS_TOKEN).start()
    yield gateway
    gateway.stop()


def delivery_options(smtp_port: int, sms: SMSGateway | None = None, **more) -> dict:
    options = dict(
        smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_security="none", mail_from="video@praxis-e2e.example",
        mail_from_name="Praxis Dr. Test", delivery_backoff="1", **more,
    )
    if sms is not None:
        options.update(sms_gateway_url=sms.url, sms_gateway_token=SMS_TOKEN, sms_sender="Praxis")
    return options


def subscribe(api: ApiClient, token: str, user_id: int, *, extra_email: str | None = None,
              extra_mobile: str | None = None, kinds=(2001, 2002, 2003, 4001)) -> None:
    """The doctor's notification options: e-mail (and SMS) channels on, the given events on."""
    options = [{"notification_id": 1001, "enabled": True, **({"value": extra_email} if extra_email else {})}]
    if extra_mobile:
        options.append({"notification_id": 1002, "enabled": True, "value": extra_mobile})
    options += [{"notification_id": kind, "enabled": True} for kind in kinds]
    api.patch(f"/api/v2/users/{user_id}", {"notification_options": options}, token=token, expect=200)


def tan_of(call: dict) -> str:
    return next(user["tan"] for user in call["users"] if user["role_name"] == "tanuser")


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:.0f} s; last seen: {last!r}")


def notifications(api: ApiClient, token: str, **params) -> list[dict]:
    return api.get("/api/v2/notifications", token=token, params={"per_page": "1000", **params}, expect=200).json()[
        "data"]


def test_create_reschedule_cancel_deliver_the_right_messages(server_factory, smtp, sms):
    server = server_factory(label="mail server", **delivery_options(smtp.port, sms))
    api = ApiClient(server)
    tenant = make_tenant(server, api, "Praxis Kalender")
    doctor_email = unique_email("doktor")
    doctor = api.create_user(tenant.token, role=2, company_id=tenant.company_id, name="Dora Doktor",
                             email=doctor_email, password="doktor-passwort-1", mobile="+491701234567")
    subscribe(api, tenant.token, doctor["id"], extra_email="empfang@praxis-e2e.example",
              extra_mobile="+491709999999")
    patient_email = unique_email("patientin")
    begin = int(time.time()) + 3 * 86400
    call = api.post("/api/v2/calls", {
        "duration": 20, "call_type": "tan", "begin": begin, "tan_username": "Jördis Müller",
        "tan_email": patient_email, "tan_mobile": "+4915112345678",
        "additional_callees": [{"user_id": doctor["id"]}],
    }, token=tenant.token, expect=201).json()["data"]
    tan = tan_of(call)

    # Created: the patient's invitation, the doctor's own address and the extra address.
    mails = smtp.wait_for(3, what="invitation mails")
    invitation = smtp.to(patient_email)
    assert len(invitation) == 1, [m.recipients for m in mails]
    text = invitation[0].text
    assert tan in text and f"/video/login?tan={tan}" in text, text
    assert "Jördis Müller" in text and "Praxis Kalender" in text
    assert invitation[0].message["From"].addresses[0].addr_spec == "video@praxis-e2e.example"
    assert f"/video/login?tan={tan}" in invitation[0].html
    calendar, event = invitation[0].event()
    assert str(calendar["METHOD"]) == "REQUEST"
    uid = str(event["UID"])
    assert int(event["SEQUENCE"]) == 0
    assert int(event["DTSTART"].dt.timestamp()) == begin
    assert int(event["DTEND"].dt.timestamp()) == begin + 20 * 60
    for address in (doctor_email, "empfang@praxis-e2e.example"):
        [notice] = smtp.to(address)
        assert str(notice.event()[1]["UID"]) == uid
        assert tan not in notice.text, "the practice's notice does not carry the patient's TAN"
    # SMS: the patient (link and TAN), the doctor's mobile and the extra number.
    texts = sms.wait_for(3)
    by_number = {message["to"]: message for message in texts}
    assert set(by_number) == {"+4915112345678", "+491701234567", "+491709999999"}
    assert tan in by_number["+4915112345678"]["text"]
    assert by_number["+4915112345678"]["reference"].startswith("sprechstunde-notification-")
    assert by_number["+4915112345678"]["_headers"]["idempotency-key"] == by_number["+4915112345678"]["reference"]
    assert all(message["parts"] <= 3 for message in texts)

    # Rescheduled: REQUEST again, same UID, higher SEQUENCE, the new time.
    moved = begin + 86400
    api.patch(f"/api/v2/calls/{call['id']}", {"begin": moved}, token=tenant.token, expect=200)
    smtp.wait_for(6, what="mails after rescheduling")
    update = smtp.to(patient_email)[-1]
    calendar, event = update.event()
    assert str(calendar["METHOD"]) == "REQUEST" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
    assert int(event["DTSTART"].dt.timestamp()) == moved
    assert tan in update.text

    # Cancelled: METHOD:CANCEL, same UID, SEQUENCE 2, no join link any more.
    api.delete(f"/api/v2/calls/{call['id']}", token=tenant.token, expect=204)
    smtp.wait_for(9, what="mails after cancelling")
    cancel = smtp.to(patient_email)[-1]
    calendar, event = cancel.event()
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2
    assert str(event["STATUS"]) == "CANCELLED"
    assert "/video/" not in cancel.text
    sms.wait_for(9)

    # Exactly once each: three events × three addresses, nothing repeated.
    counts = collections.Counter((tuple(m.recipients), str(m.event()[1]["SEQUENCE"])) for m in smtp.received())
    assert all(count == 1 for count in counts.values()), counts
    assert len(smtp.received()) == 9
    assert all(n["status"] == "sent" for n in notifications(api, tenant.token))
    server.assert_log_clean()


def test_smtp_down_then_back_gets_every_message_exactly_once(server_factory):
    port = free_port()
    server = server_factory(label="mail server (smtp down)", **delivery_options(port))
    api = ApiClient(server)
    tenant = make_tenant(server, api)
    addresses = [unique_email(f"patient{i}") for i in range(4)]
    for address in addresses:
        api.post("/api/v2/calls", {"duration": 15, "call_type": "tan", "begin": int(time.time()) + 7200,
                                   "tan_username": "Pat Ient", "tan_email": address}, token=tenant.token, expect=201)
    # Nothing listens: attempts are counted and the reason is kept.
    pending = wait_until(
        lambda: [n for n in notifications(api, tenant.token) if n["attempts"] >= 2] or None, 30,
        "notifications retried while the SMTP server is down")
    assert all(n["status"] == "pending" and n["last_error"] for n in pending), pending
    sink = SMTPSink(port=port).start()
    try:
        sink.wait_for(4, timeout=30)
        time.sleep(3)  # a few more delivery runs: nothing may come twice
        assert sorted(r for m in sink.received() for r in m.recipients) == sorted(addresses)
        wait_until(lambda: all(n["status"] == "sent" for n in notifications(api, tenant.token)), 15,
                   "all notifications marked sent")
    finally:
        sink.stop()


def test_killed_in_the_middle_of_a_delivery_run_still_delivers_each_message_once(server_factory):
    # Each mail takes 0.4 s to be accepted, so a kill lands inside the run.
    sink = SMTPSink(delay=0.4).start()
    try:
        server = server_factory(label="mail server (killed)", **delivery_options(sink.port))
        api = ApiClient(server)
        tenant = make_tenant(server, api)
        addresses = [unique_email(f"kill{i}") for i in range(10)]
        for address in addresses:
            api.post("/api/v2/calls", {"duration": 15, "call_type": "tan", "begin": int(time.time()) + 7200,
                                       "tan_username": "Pat Ient", "tan_email": address},
                     token=tenant.token, expect=201)
        sink.wait_for(3, timeout=30)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        delivered_before = len(sink.received())
        assert delivered_before < len(addresses), "the kill came too late to be in the middle of the run"
        server.start()  # same data directory
        sink.wait_for(len(addresses), timeout=60)
        time.sleep(3)
        received = sorted(r for m in sink.received() for r in m.recipients)
        assert received == sorted(addresses), collections.Counter(received)
    finally:
        sink.stop()


def test_a_refused_patient_address_is_reported_as_4001(server_factory, smtp):
    server = server_factory(label="mail server (bounce)", **delivery_options(smtp.port))
    api = ApiClient(server)
    tenant = make_tenant(server, api)
    subscribe(api, tenant.token, tenant.admin_id, kinds=(4001,))
    call = api.post("/api/v2/calls", {"duration": 15, "call_type": "tan", "begin": int(time.time()) + 7200,
                                      "tan_username": "Bernd Bounce", "tan_email": "bounce-nobody@example.org"},
                    token=tenant.token, expect=201).json()["data"]
    failed = wait_until(
        lambda: [n for n in notifications(api, tenant.token, status="failed")] or None, 30, "the invitation failed")
    assert failed[0]["recipient"] == "bounce-nobody@example.org"
    assert "550" in failed[0]["last_error"]
    [notice] = smtp.wait_for(1, what="the 4001 notice")
    assert notice.recipients == [tenant.admin_email]
    assert "bounce-nobody@example.org" in notice.text and "Bernd Bounce" in notice.text
    record = wait_until(
        lambda: [n for n in notifications(api, tenant.token, call_id=str(call["id"])) if n["notification_id"] == 4001
                 and n["status"] == "sent"] or None, 15, "the 4001 notice marked sent")
    assert record[0]["audience"] == "staff"
    # Retrying a failed notification queues it again (and it fails again, for the same reason).
    retried = api.post(f"/api/v2/notifications/{failed[0]['id']}/retry", token=tenant.token, expect=200).json()
    assert retried["data"]["status"] == "pending" and retried["data"]["attempts"] == 0
    api.post(f"/api/v2/notifications/{record[0]['id']}/retry", token=tenant.token, expect=409)


def test_without_smtp_messages_wait_in_the_outbox_for_admins(server, api, admin_token, tenant_factory):
    call = api.post("/api/v2/calls", {"duration": 15, "call_type": "tan", "begin": int(time.time()) + 7200,
                                      "tan_username": "Olga Outbox", "tan_email": unique_email("outbox")},
                    token=admin_token, expect=201).json()["data"]
    waiting = wait_until(lambda: notifications(api, admin_token, call_id=str(call["id"])) or None, 20,
                         "the invitation in the outbox")
    assert waiting[0]["status"] == "pending"
    assert "no SMTP server configured" in waiting[0]["last_error"]
    assert "text" not in waiting[0], "the list shows envelopes, not contents"
    full = api.get(f"/api/v2/notifications/{waiting[0]['id']}", token=admin_token, expect=200).json()["data"]
    assert tan_of(call) in full["text"] and "BEGIN:VCALENDAR" in full["calendar"]
    assert full["calendar_method"] == "REQUEST"
    # Who may read it: not a doctor, not another company's admin, not a machine client.
    company_id = api.get("/api/v2/companies", token=admin_token, expect=200).json()["data"][0]["id"]
    doctor = api.create_user(admin_token, role=2, company_id=company_id, name="Doc Tor",
                             email=unique_email("doc"), password="doc-passwort-12")
    doctor_token = api.sign_in(doctor["email"], "doc-passwort-12")
    api.get("/api/v2/notifications", token=doctor_token, expect=403)
    other = tenant_factory()
    api.get(f"/api/v2/notifications/{waiting[0]['id']}", token=other.token, expect=404)
    assert all(n["call_id"] != call["id"] for n in notifications(api, other.token))
    api.get("/api/v2/notifications", token=admin_token, params={"status": "lost"}, expect=422)
    # Operators see the same on the command line.
    listing = server.cli("notifications", "list", status="pending", call=str(call["id"])).stdout
    assert f"call {call['id']}" in listing and "pending" in listing
