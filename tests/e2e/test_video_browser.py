"""Real video calls between two headless Chromiums (fake camera and microphone) on loopback.

Each test makes a call through the API, opens the contract's entry URLs in the browsers, and
checks what the pages expose (body[data-state], window.sprechstunde.mediaStats() / events) and
what the server recorded (call logs, call status). One test runs the call through coturn with
`iceTransportPolicy: relay`. See browser.py for the helpers (Chromium flags, chromedriver,
coturn) and scripts/test.sh for the network namespace they run in.

SPRECHSTUNDE_E2E_WEB_DIR points the servers at client files other than the built-in ones
(`--web-dir`), e.g. the source directory while the client is being written.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from browser import Browser, browser_factory, turn_server, wait_event, wait_media, wait_state, wait_until  # noqa: F401
from conftest import ApiClient, ServerProcess
from signaling import VideoCall, make_video_call, poll

WEB_DIR = os.environ.get("SPRECHSTUNDE_E2E_WEB_DIR")
END_GRACE = 5  # seconds; the smallest the server takes


PRIVACY_URL = "https://praxis.example/datenschutz"


def video_options(**more) -> dict:
    options = {"end-grace-seconds": str(END_GRACE)}
    if WEB_DIR:
        options["web-dir"] = WEB_DIR
    options.update({k.replace("_", "-"): str(v) for k, v in more.items()})
    return options


@pytest.fixture(scope="module")
def video_server(tmp_path_factory) -> ServerProcess:
    process = ServerProcess(tmp_path_factory.mktemp("video") / "data", label="video server",
                            options=video_options(privacy_url=PRIVACY_URL)).start()
    yield process
    process.stop()
    process.assert_log_clean()


class Practice:
    """The demo company's admin, a doctor of its own and the demo machine client."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.api = ApiClient(server)
        self.admin_token = self.api.sign_in(server.admin_email, server.admin_password)
        self.doctor = self.api.create_user(self.admin_token, role=2, name="Dr. Erika Videoärztin")
        assert server.config is not None
        self.client_id = server.config["client_credentials"]["client_id"]
        self.client_secret = server.config["client_credentials"]["client_password"]

    def call(self, **fields) -> VideoCall:
        fields.setdefault("additional_callees", [{"user_id": self.doctor["id"]}])
        return make_video_call(self.api, self.admin_token, **fields)

    def one_time_password(self, call: VideoCall) -> str:
        client_token = self.api.client_sign_in(self.client_id, self.client_secret)
        response = self.api.post("/api/ext/createScopedToken",
                                 {"email": self.doctor["email"], "scope_type": "call", "scope_id": call.id},
                                 token=client_token)
        assert response.status_code in (200, 201), f"createScopedToken: {response.status_code} {response.text}"
        token = response.json()["token"]
        self.server.secrets.add(token, confidential=True)
        return token


@pytest.fixture(scope="module")
def practice(video_server) -> Practice:
    return Practice(video_server)


def tid(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def page_status(server: ServerProcess, path: str) -> requests.Response:
    return requests.get(server.base_url + path, verify=server.ca_path, timeout=30)


# ---------------------------------------------------------------------------------------
# Going through the pages
# ---------------------------------------------------------------------------------------


def sign_in(browser: Browser, server: ServerProcess, call_id: int, email: str, password: str) -> None:
    browser.open(f"{server.base_url}/video/{call_id}")
    wait_state(browser, "signin")
    browser.type("#signin-email", email)
    browser.type("#signin-password", password)
    browser.click("#signin-submit")


def into_call(browser: Browser, *others: Browser) -> None:
    """From wherever the page is (device check or already in the call) into the call."""
    state = wait_state(browser, "device-check", "in-call", "waiting", others=list(others))
    if state == "device-check":
        check_devices(browser)
        browser.click("#enter-waiting")
    wait_state(browser, "in-call", timeout=30, others=list(others))


def check_devices(browser: Browser, require_consent: bool = False) -> None:
    """The device check shows the camera; the consent boxes (shown when consent is missing) are ticked."""
    wait_until(browser, f"{browser.label}: the camera preview playing",
               lambda: browser.js("const v = document.getElementById('preview');"
                                  "return !!v && v.readyState >= 2 && v.videoWidth > 0;"))
    for box in ("#consent-data", "#consent-descriptions"):
        element = browser.find(box)
        if require_consent:
            assert element.is_displayed(), f"{browser.label}: {box} should be shown without consent\n" + browser.diagnose()
        if element.is_displayed() and not element.is_selected():
            browser.click(box)


def leave(browser: Browser) -> None:
    browser.click("#leave")
    wait_state(browser, "left", "ended")


def assert_remote_video(browser: Browser, peer_count: int = 1) -> None:
    def playing():
        return browser.js(
            "const vs = [...document.querySelectorAll('#remote-videos video[data-peer-id]')];"
            "return vs.length >= arguments[0] && vs.every(v => v.videoWidth > 0 && !v.paused);", peer_count)

    wait_until(browser, f"{browser.label}: {peer_count} remote video(s) playing", playing)


def frames_keep_coming(browsers: list[Browser], seconds: float = 3.0) -> float:
    """Frames decoded keep growing on every page for `seconds`; returns when the check ended."""
    first = {b.label: sum(e["framesDecoded"] for e in b.media_stats()) for b in browsers}
    started = time.monotonic()

    def grown():
        if time.monotonic() - started < seconds:
            return None
        now = {b.label: b.media_stats() for b in browsers}
        totals = {label: sum(e.get("framesDecoded") or 0 for e in stats) if isinstance(stats, list) else stats
                  for label, stats in now.items()}
        return totals if all(isinstance(totals[l], int) and totals[l] > first[l] for l in totals) else None

    wait_until(browsers, f"frames still decoded after {seconds} s (first {first})", grown, seconds + 20)
    return time.monotonic()


def participant_of(call: VideoCall, user_id: int) -> dict:
    [user] = [u for u in call.call["users"] if u["id"] == user_id]
    return user


# ---------------------------------------------------------------------------------------
# (a) sign-in, waiting area, admit, media, logs, end
# ---------------------------------------------------------------------------------------


def test_doctor_admits_a_patient_from_the_waiting_area(video_server, practice, browser_factory):
    call = practice.call()
    patient_user = call.patients[0]
    doctor_page, patient_page = browser_factory("doctor"), browser_factory("patient")
    pages = [doctor_page, patient_page]

    # The patient comes first, through the waiting area.
    patient_page.open(f"{video_server.base_url}/video/login?tan={patient_user['tan']}")
    wait_state(patient_page, "device-check")
    check_devices(patient_page, require_consent=True)
    # The practice's privacy policy is linked where the patient consents, opening elsewhere.
    link = patient_page.find("#privacy-link")
    assert link.is_displayed() and link.get_attribute("href") == PRIVACY_URL, patient_page.diagnose()
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    # The fake microphone beeps: the level meter moves.
    wait_until(patient_page, "the microphone level above 0",
               lambda: patient_page.js("return Number(document.getElementById('mic-level').value) > 0"), 15)
    patient_page.click("#speaker-test")
    patient_page.click("#enter-waiting")
    wait_state(patient_page, "waiting")
    alone_text = wait_until(patient_page, "the waiting status text",
                            lambda: patient_page.find("#waiting-status").text.strip())
    consent = call.current()["users"]
    assert [u["consentstatus"] for u in consent if u["id"] == patient_user["id"]][0]["tan_data_agreed"] is True

    # The doctor signs in and sees the patient waiting.
    sign_in(doctor_page, video_server, call.id, practice.doctor["email"], practice.doctor["_password"])
    into_call(doctor_page)
    entry = wait_until(pages, "the patient on the doctor's waiting list",
                       lambda: doctor_page.find_all("#waiting-list li[data-peer-id]"))
    assert patient_page.state() == "waiting", "not in the call before a doctor admits\n" + patient_page.diagnose()
    # The waiting room tells the patient that a doctor is there now (doctors_present).
    wait_until(patient_page, f"#waiting-status to change from {alone_text!r} once the doctor is there",
               lambda: patient_page.find("#waiting-status").text.strip() not in ("", alone_text))
    assert "Paula Patientin" in entry[0].text, entry[0].text
    entry[0].find_element(doctor_page.By.CSS_SELECTOR, "button.admit").click()
    admitted_at = time.monotonic()

    wait_state(patient_page, "in-call", others=[doctor_page])
    stats = wait_media(pages)
    for page in pages:
        assert len(stats[page.label]) == 1, stats
    assert stats["doctor"][0]["participant"]["id"] == patient_user["id"], stats
    assert stats["patient"][0]["participant"]["id"] == practice.doctor["id"], stats
    assert_remote_video(doctor_page)
    assert_remote_video(patient_page)
    frames_keep_coming(pages, seconds=3)
    for page in pages:
        names = page.event_names()
        for name in ("ready", "joined", "participant-joined", "media-connected"):
            assert name in names, f"{page.label}: no {name} event in {names}"
    assert "waiting" in patient_page.event_names() and "admitted" in patient_page.event_names()

    leave(patient_page)
    together = time.monotonic() - admitted_at
    wait_until(doctor_page, "participant-left on the doctor's page",
               lambda: "participant-left" in doctor_page.event_names())
    leave(doctor_page)
    total = time.monotonic() - admitted_at

    logs = poll("both sessions closed in the call log",
                lambda: (lambda l: l if len(l) == 2 and all(e["end"] for e in l) else None)(call.logs()), 15)
    by_user = {log["user_id"]: log for log in logs}
    assert set(by_user) == {practice.doctor["id"], patient_user["id"]}, logs
    assert by_user[patient_user["id"]]["tan"] == patient_user["tan"], logs
    assert by_user[practice.doctor["id"]]["tan"] in (None, ""), logs
    for log in logs:
        # Whole seconds from joining to leaving: at least the time both were in the call.
        assert int(together) - 1 <= log["duration"] <= total + 60, (log, together, total)
        assert log["end"] - log["created_at"] == log["duration"], log
    ended = poll("the call ended after the grace", lambda: call.current()["status"] == 2, END_GRACE + 30)
    assert ended


# ---------------------------------------------------------------------------------------
# (b) the one-time password link, the patient straight in
# ---------------------------------------------------------------------------------------


def test_one_time_password_link_enters_once(video_server, practice, browser_factory):
    call = practice.call()
    otp = practice.one_time_password(call)
    url = f"{video_server.base_url}/video/{call.id}?tid={tid(otp)}"
    assert page_status(video_server, f"/video/{call.id}?tid={tid(otp)}").status_code == 200, "serving spends nothing"

    doctor_page, patient_page = browser_factory("doctor"), browser_factory("patient")
    doctor_page.open(url)
    into_call(doctor_page)
    wait_until(doctor_page, "the secret gone from the address bar",
               lambda: "tid=" not in doctor_page.driver.current_url)
    patient_page.open(f"{video_server.base_url}/video/{call.id}?tan={call.patients[0]['tan']}")
    into_call(patient_page, doctor_page)
    wait_media([doctor_page, patient_page])
    joined = wait_event(doctor_page, "joined")
    assert joined["self"]["id"] == practice.doctor["id"] and joined["call_id"] == call.id, joined

    # Spent: the same link now answers 4xx and shows the error page.
    again = page_status(video_server, f"/video/{call.id}?tid={tid(otp)}")
    assert 400 <= again.status_code < 500, f"{again.status_code} {again.text[:300]}"
    third = browser_factory("again")
    third.open(url)
    code = wait_until(third, "the error page", lambda: third.js(
        "return document.body.classList.contains('entry-error') ? document.body.dataset.code : null"))
    assert code == "otp-invalid", code
    leave(patient_page)
    leave(doctor_page)


# ---------------------------------------------------------------------------------------
# (c) through coturn only
# ---------------------------------------------------------------------------------------


def test_call_through_turn_relay(tmp_path, turn_server, browser_factory):
    server = ServerProcess(tmp_path / "turn-data", label="relay server", options=video_options(
        turn_url=turn_server.url, turn_secret=turn_server.secret, ice_transport_policy="relay")).start()
    try:
        server.secrets.add(turn_server.secret, confidential=True)
        practice = Practice(server)
        call = practice.call()
        session = call.patient_session()
        assert session["ice_transport_policy"] == "relay", session
        [ice] = session["ice_servers"]
        assert ice["urls"] == [turn_server.url] and ":" in ice["username"] and ice["credential"], ice

        doctor_page, patient_page = browser_factory("doctor"), browser_factory("patient")
        sign_in(doctor_page, server, call.id, practice.doctor["email"], practice.doctor["_password"])
        into_call(doctor_page)
        patient_page.open(f"{server.base_url}/video/{call.id}?tan={call.patients[0]['tan']}")
        into_call(patient_page, doctor_page)
        try:
            stats = wait_media([doctor_page, patient_page], candidate_type="relay")
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- turnserver log ---\n{turn_server.log_text()[-4000:]}") from None
        assert all(e["candidateType"] == "relay" for s in stats.values() for e in s), stats
        log = turn_server.log_text()
        # Allocations by the server-issued credentials (TURN REST: "<expiry>:s<session id>").
        allocations = re.findall(r"user <(\d+:s\d+)>: incoming packet ALLOCATE processed, success", log)
        assert len(set(allocations)) >= 2, "coturn saw no allocation with both sessions' credentials:\n" + log[-3000:]
        leave(patient_page)
        leave(doctor_page)
    finally:
        server.stop()
        server.assert_log_clean()


# ---------------------------------------------------------------------------------------
# (d) refused entries
# ---------------------------------------------------------------------------------------


def error_code_shown(browser: Browser) -> str:
    return wait_until(browser, "the error page (body.entry-error[data-code])", lambda: browser.js(
        "return document.body && document.body.classList.contains('entry-error') ? document.body.dataset.code : null"))


def test_deleted_calls_and_spent_passwords_are_refused(video_server, practice, browser_factory):
    deleted = practice.call()
    tan = deleted.patients[0]["tan"]
    practice.api.delete(f"/api/v2/calls/{deleted.id}", token=practice.admin_token, expect=204)
    spent_call = practice.call()
    otp = practice.one_time_password(spent_call)
    practice.api.post("/video/api/session", {"call_id": spent_call.id, "tid": tid(otp)}, expect=201)

    cases = [
        (f"/video/{deleted.id}?tan={tan}", 410, "call-deleted"),
        (f"/video/login?tan={tan}", 410, "call-deleted"),
        (f"/video/{spent_call.id}?tid={tid(otp)}", 404, "otp-invalid"),
        (f"/video/{spent_call.id}?tan=AAAA-BBBB-CCCC", 404, "tan-invalid"),
        ("/video/abc", 404, "bad-link"),
    ]
    page = browser_factory("refused")
    for path, status, code in cases:
        response = page_status(video_server, path)
        assert response.status_code == status, f"{path}: {response.status_code} {response.text[:300]}"
        assert "text/html" in response.headers.get("Content-Type", ""), response.headers
        page.open(video_server.base_url + path)
        assert error_code_shown(page) == code, path
        text = page.body_text()
        assert text.strip(), f"{path}: the error page says nothing"


# ---------------------------------------------------------------------------------------
# (e) embedded in an iframe: the postMessage events
# ---------------------------------------------------------------------------------------


PARENT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Praxisportal</title></head>
<body>
<h1>Praxisportal (another origin)</h1>
<iframe id="call" width="900" height="600" allow="camera; microphone; fullscreen; display-capture; autoplay"></iframe>
<script>
window.receivedEvents = [];
window.receivedOrigins = [];
window.addEventListener('message', (e) => {
  if (e.data && e.data.source === 'sprechstunde') {
    window.receivedEvents.push(e.data);
    window.receivedOrigins.push(e.origin);
  }
});
document.getElementById('call').src = new URLSearchParams(location.search).get('src');
</script>
</body></html>
"""


@pytest.fixture
def other_origin(tmp_path):
    """A plain http.server on another 127.0.0.1 port: a parent page of a different origin."""
    root = tmp_path / "portal"
    root.mkdir()
    (root / "parent.html").write_text(PARENT_PAGE, "utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=str(root), **kw)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def received_events(page: Browser) -> list[dict]:
    return page.js("return JSON.parse(JSON.stringify(window.receivedEvents || []))") or []


def wait_parent_events(page: Browser, names: list[str], others: list[Browser], timeout: float = 60) -> list[dict]:
    def got():
        events = received_events(page)
        seen = [e.get("event") for e in events]
        return events if all(name in seen for name in names) else None

    try:
        return wait_until([page, *others], f"{page.label}: parent received {names}", got, timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\nparent's receivedEvents: {received_events(page)}") from None


def check_event_shapes(events: list[dict], call: VideoCall, patient_id: int, doctor_id: int) -> None:
    for event in events:
        assert event.get("source") == "sprechstunde" and isinstance(event.get("event"), str), event
    by_name = {}
    for event in events:
        by_name.setdefault(event["event"], event)
    assert by_name["ready"].get("call_id") == call.id, by_name["ready"]
    joined = by_name["joined"]
    assert joined.get("call_id") == call.id, joined
    assert joined["self"] == {"id": patient_id, "name": "Paula Patientin", "role": "tanuser"}, joined
    for name in ("participant-joined", "media-connected"):
        participant = by_name[name].get("participant")
        assert isinstance(participant, dict) and set(participant) >= {"id", "name", "role"}, by_name[name]
        assert participant["id"] == doctor_id and participant["role"] == "callee", by_name[name]
    names = [e["event"] for e in events]
    assert names.index("ready") < names.index("joined") < names.index("media-connected"), names
    assert names.count("media-connected") == 1, f"media-connected once per participant: {names}"


def test_embedded_call_sends_events_to_the_parent(video_server, practice, browser_factory):
    call = practice.call()
    src = f"{video_server.base_url}/video/{call.id}?tan={call.patients[0]['tan']}"
    doctor_page, parent = browser_factory("doctor"), browser_factory("embedding patient")
    sign_in(doctor_page, video_server, call.id, practice.doctor["email"], practice.doctor["_password"])
    into_call(doctor_page)

    parent.open(f"{video_server.base_url}/demo/embed?src={urllib.parse.quote(src, safe='')}")
    wait_until(parent, "the demo's iframe#call", lambda: parent.find_all("iframe#call"))
    enter_framed(parent, doctor_page)
    events = wait_parent_events(parent, ["ready", "joined", "participant-joined", "media-connected"], [doctor_page])
    check_event_shapes(events, call, call.patients[0]["id"], practice.doctor["id"])
    listed = parent.find_all("ol#events li")
    assert len(listed) >= 4, f"the demo lists the events: {[li.text for li in listed]}"
    wait_media([doctor_page])


def test_embedded_in_a_page_of_another_origin(video_server, practice, browser_factory, other_origin):
    call = practice.call()
    src = f"{video_server.base_url}/video/{call.id}?tan={call.patients[0]['tan']}"
    doctor_page, parent = browser_factory("doctor"), browser_factory("foreign parent")
    sign_in(doctor_page, video_server, call.id, practice.doctor["email"], practice.doctor["_password"])
    into_call(doctor_page)

    parent.open(f"{other_origin}/parent.html?src={urllib.parse.quote(src, safe='')}")
    enter_framed(parent, doctor_page)
    events = wait_parent_events(parent, ["ready", "joined", "participant-joined", "media-connected"], [doctor_page])
    check_event_shapes(events, call, call.patients[0]["id"], practice.doctor["id"])
    origins = set(parent.js("return window.receivedOrigins"))
    assert origins == {video_server.base_url}, f"events come from the video server's origin: {origins}"
    wait_media([doctor_page])

    # The page in the frame leaves: the parent hears `left`.
    parent.driver.switch_to.frame(parent.find("iframe"))
    try:
        parent.click("#leave")
    finally:
        parent.driver.switch_to.default_content()
    wait_parent_events(parent, ["left"], [doctor_page], timeout=20)
    wait_until(doctor_page, "participant-left on the doctor's page",
               lambda: "participant-left" in doctor_page.event_names())


def enter_framed(parent: Browser, *others: Browser) -> None:
    """Inside the iframe: through the device check (and consent) into the call."""
    frame = wait_until([parent, *others], "the iframe", lambda: parent.find_all("iframe"))[0]
    parent.driver.switch_to.frame(frame)
    try:
        into_call(parent, *others)
    finally:
        parent.driver.switch_to.default_content()
