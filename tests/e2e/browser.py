"""Real browsers and a real TURN server for the video tests.

Headless Debian Chromium driven by Selenium through `/usr/bin/chromedriver` (Selenium Manager
cannot download here), with fake camera and microphone; coturn started by a fixture on
127.0.0.1 with a configuration of its own. Everything runs inside the loopback-only network
namespace that scripts/test.sh creates.

The video page exposes test hooks (docs/video.md and the client): `document.body.dataset.state`,
`window.sprechstunde.connections()`, `await window.sprechstunde.mediaStats()` and
`window.sprechstunde.events`. Every wait here fails with what the page showed: its state, its
events, its media statistics and the browser console.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

CHROMIUM = os.environ.get("SPRECHSTUNDE_E2E_CHROMIUM", "/usr/lib/chromium/chromium")
CHROMEDRIVER = os.environ.get("SPRECHSTUNDE_E2E_CHROMEDRIVER", "/usr/bin/chromedriver")
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"

MEDIA_TIMEOUT = 60.0  # a call connects in 1-3 s here, slower under load
PAGE_TIMEOUT = 30.0

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--ignore-certificate-errors",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
]


def _selenium():
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError:  # pragma: no cover - requirements.txt has selenium
        pytest.fail("selenium is not installed (tests/e2e/requirements.txt)", pytrace=False)
    return webdriver, Service, By, WebDriverException


def browsers_available() -> str | None:
    """Why real browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (scripts/install-deps.sh --test installs chromium and chromium-driver)"
    return None


def _processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


class Browser:
    """One headless Chromium with its own profile and home directory."""

    def __init__(self, label: str, work_dir: Path, extra_flags: list[str] | None = None):
        webdriver, Service, By, _ = _selenium()
        self.label = label
        self.By = By
        self.dir = work_dir / f"browser-{label}-{uuid.uuid4().hex[:6]}"
        (self.dir / "home").mkdir(parents=True)
        (self.dir / "profile").mkdir()
        self.console: list[dict] = []
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + list(extra_flags or []):
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.dir / 'profile'}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.set_capability("acceptInsecureCerts", True)
        env = dict(os.environ, HOME=str(self.dir / "home"), XDG_CONFIG_HOME=str(self.dir / "home" / ".config"),
                   XDG_CACHE_HOME=str(self.dir / "home" / ".cache"))
        self.service = Service(CHROMEDRIVER, log_output=str(self.dir / "chromedriver.log"), env=env)
        try:
            self.driver = webdriver.Chrome(service=self.service, options=options)
        except Exception:
            self._kill_leftovers()
            raise
        self.driver.set_page_load_timeout(PAGE_TIMEOUT)
        self.driver.set_script_timeout(PAGE_TIMEOUT)

    # -- inspection --------------------------------------------------------------------

    def js(self, script: str, *args) -> Any:
        return self.driver.execute_script(script, *args)

    def state(self) -> str | None:
        try:
            return self.js("return document.body ? document.body.dataset.state : null")
        except Exception as error:  # the page may be navigating
            return f"<unreadable: {type(error).__name__}>"

    def events(self) -> list[dict]:
        try:
            return self.js("return (window.sprechstunde && window.sprechstunde.events) ? "
                           "JSON.parse(JSON.stringify(window.sprechstunde.events)) : null") or []
        except Exception:
            return []

    def event_names(self) -> list[str]:
        return [e.get("event") for e in self.events()]

    def media_stats(self) -> list[dict] | str:
        """`await window.sprechstunde.mediaStats()`, or a description of why it failed."""
        try:
            result = self.driver.execute_async_script(
                """
                const done = arguments[arguments.length - 1];
                if (!window.sprechstunde || !window.sprechstunde.mediaStats) { done({error: 'no window.sprechstunde.mediaStats'}); return; }
                window.sprechstunde.mediaStats().then(
                  (stats) => done({stats: JSON.parse(JSON.stringify(stats))}),
                  (error) => done({error: String(error)}));
                """
            )
        except Exception as error:
            return f"<mediaStats failed: {type(error).__name__}: {str(error)[:200]}>"
        if "error" in result:
            return f"<mediaStats: {result['error']}>"
        return result["stats"]

    def connections(self) -> list[dict] | str:
        try:
            return self.js(
                "if (!window.sprechstunde || !window.sprechstunde.connections) return 'no connections()';"
                "return window.sprechstunde.connections().map(c => ({peerId: c.peerId, participant: c.participant,"
                " connectionState: c.pc && c.pc.connectionState}));")
        except Exception as error:
            return f"<connections failed: {type(error).__name__}>"

    def read_console(self) -> list[dict]:
        try:
            self.console += self.driver.get_log("browser")
        except Exception:
            pass
        return self.console

    def body_text(self) -> str:
        try:
            return self.js("return document.body ? document.body.innerText : ''")[:1500]
        except Exception:
            return "<unreadable>"

    def diagnose(self) -> str:
        try:
            url = self.driver.current_url
        except Exception:
            url = "<unknown>"
        console = "\n".join(
            f"    {entry.get('level')} {entry.get('message', '')[:400]}" for entry in self.read_console()[-40:]
        )
        return (
            f"--- browser {self.label} ---\n"
            f"  url: {url}\n  state: {self.state()}\n"
            f"  events: {json.dumps(self.events(), ensure_ascii=False)[:3000]}\n"
            f"  connections: {self.connections()}\n"
            f"  mediaStats: {self.media_stats()}\n"
            f"  page text: {self.body_text()[:600]!r}\n"
            f"  console:\n{console}"
        )

    # -- actions -----------------------------------------------------------------------

    def open(self, url: str) -> None:
        self.driver.get(url)

    def find(self, css: str):
        return self.driver.find_element(self.By.CSS_SELECTOR, css)

    def find_all(self, css: str):
        return self.driver.find_elements(self.By.CSS_SELECTOR, css)

    def click(self, css: str, timeout: float = PAGE_TIMEOUT) -> None:
        """Clicks the element once it is there, shown and enabled."""

        def clicked():
            for element in self.find_all(css):
                if element.is_displayed() and element.is_enabled():
                    try:
                        element.click()
                        return True
                    except Exception:  # covered or moving: try again
                        return False
            return False

        wait_until(self, f"{css} to be clickable", clicked, timeout)

    def type(self, css: str, text: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(text)

    def quit(self) -> None:
        try:
            self.driver.quit()
        except Exception:
            pass
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """Whatever of this browser survived quit (its profile path is in every command line)."""
        deadline = time.monotonic() + 5
        while (pids := _processes_mentioning(str(self.dir))) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def wait_until(browsers: Browser | list[Browser], what: str, probe: Callable[[], Any],
               timeout: float = PAGE_TIMEOUT, interval: float = 0.25) -> Any:
    """Polls `probe` until it returns something truthy; on timeout fails with the pages' state."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except AssertionError:
            raise
        except Exception as error:  # a page in the middle of navigating
            last = f"<{type(error).__name__}: {str(error)[:200]}>"
        if last and not (isinstance(last, str) and last.startswith("<")):
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    pages = browsers if isinstance(browsers, list) else [browsers]
    report = "\n".join(page.diagnose() for page in pages)
    raise AssertionError(f"waited {timeout:.0f} s for {what}; last seen: {last!r}\n{report}")


def wait_state(browser: Browser, *states: str, timeout: float = PAGE_TIMEOUT, others: list[Browser] = ()) -> str:
    return wait_until([browser, *others], f"{browser.label}: body[data-state] in {states}",
                      lambda: browser.state() if browser.state() in states else None, timeout)


def wait_event(browser: Browser, name: str, timeout: float = PAGE_TIMEOUT, **fields) -> dict:
    def found():
        for event in browser.events():
            if event.get("event") == name and all(event.get(k) == v for k, v in fields.items()):
                return event
        return None

    return wait_until(browser, f"{browser.label}: event {name} {fields}", found, timeout)


def wait_media(browsers: list[Browser], peers: int = 1, candidate_type: str | None = None,
               timeout: float = MEDIA_TIMEOUT) -> dict[str, list[dict]]:
    """Every page connected to `peers` others with decoded frames from each; returns the stats."""

    def good(stats) -> bool:
        if not isinstance(stats, list) or len(stats) < peers:
            return False
        for entry in stats:
            if entry.get("connectionState") != "connected" or not (entry.get("framesDecoded") or 0) > 0:
                return False
            if candidate_type and entry.get("candidateType") != candidate_type:
                return False
        return True

    def probe():
        seen = {page.label: page.media_stats() for page in browsers}
        return seen if all(good(stats) for stats in seen.values()) else None

    return wait_until(browsers, f"media connected on {[p.label for p in browsers]} "
                                f"({peers} peer(s) each, frames decoded"
                                f"{', candidate ' + candidate_type if candidate_type else ''})", probe, timeout, 0.5)


@pytest.fixture
def browser_factory(tmp_path):
    """Starts headless Chromiums; every one is quit (and anything left of it killed) at the end.
    On failure, each page's state, events, stats and console are in the test's output."""
    reason = browsers_available()
    if reason:
        pytest.fail(reason, pytrace=False)
    started: list[Browser] = []

    def start(label: str, extra_flags: list[str] | None = None) -> Browser:
        browser = Browser(label, tmp_path, extra_flags)
        started.append(browser)
        return browser

    yield start
    for browser in started:
        browser.quit()
    leftovers = {b.label: _processes_mentioning(str(b.dir)) for b in started}
    assert not any(leftovers.values()), f"browser processes outlived the test: {leftovers}"


# ---------------------------------------------------------------------------------------
# coturn
# ---------------------------------------------------------------------------------------


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@dataclass
class TurnServer:
    port: int
    secret: str
    realm: str
    log_path: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""


@pytest.fixture
def turn_server(tmp_path):
    """coturn on 127.0.0.1 with a free port, TURN REST authentication (use-auth-secret) and a
    configuration, user database, pid file and log of its own; stopped at the end."""
    if not os.access(TURNSERVER, os.X_OK):
        pytest.fail(f"{TURNSERVER} is missing (scripts/install-deps.sh --test installs coturn)", pytrace=False)
    port = free_port()
    secret = "turn-" + uuid.uuid4().hex
    realm = "sprechstunde.test"
    work = tmp_path / "coturn"
    work.mkdir()
    log_path = work / "turnserver.log"
    config = work / "turnserver.conf"
    relay_min = 40000 + (port % 200) * 100
    config.write_text("\n".join([
        f"listening-ip=127.0.0.1",
        f"listening-port={port}",
        f"relay-ip=127.0.0.1",
        f"min-port={relay_min}",
        f"max-port={relay_min + 99}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"realm={realm}",
        "allow-loopback-peers",  # test only: unsafe in production
        "no-tls",
        "no-dtls",
        "no-cli",
        "no-multicast-peers",
        "fingerprint",
        f"userdb={work / 'turndb.sqlite'}",
        f"pidfile={work / 'turnserver.pid'}",
        f"log-file={log_path}",
        "simple-log",
        "verbose",
        "",
    ]))
    process = subprocess.Popen([TURNSERVER, "-c", str(config), "--no-stdout-log"], cwd=str(work),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = TurnServer(port, secret, realm, log_path, process)
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            pytest.fail(f"turnserver exited with {process.returncode}:\n{server.log_text()[-3000:]}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"turnserver did not listen on {port}:\n{server.log_text()[-3000:]}", pytrace=False)
            time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
