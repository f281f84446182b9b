"""Live end-to-end fixtures: the real `sprechstunde` binary over real HTTPS.

The session server is started once (`sprechstunde demo --port 0`) in a pytest temporary
directory; tests that change global state such as the sign-in throttle get a fresh server
of their own (`fresh_server`). Run: `swift build && python3 -m pytest -q tests/e2e`
(SPRECHSTUNDE_BIN overrides the binary). Every response that goes through `ApiClient` is checked
against the contract's invariants (JSON except 204, never a password or a hash).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("SPRECHSTUNDE_BIN", str(REPO / ".build" / "debug" / "sprechstunde")))

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
LISTENING = re.compile(r"Sprechstunde listening on (https://\S+)")

# Anything that looks like an e-mail address, or a long opaque token, must never reach the log.
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
TOKEN_LIKE_PATTERN = re.compile(r"[A-Za-z0-9_\-]{32,}")

_MISSING = object()


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@praxis-e2e.example"


def unique_name(first: str = "Test") -> str:
    return f"{first} Person-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------------------


@dataclass
class Secrets:
    """Values that must never appear in the server's access log (`values`); passwords and
    tokens (`confidential`) must in addition never come back in a response body (tokens
    only in the sign-in answer that issues them)."""

    values: set[str] = field(default_factory=set)
    confidential: set[str] = field(default_factory=set)

    def add(self, value: Any, confidential: bool = False) -> None:
        if isinstance(value, str) and len(value) >= 6:
            self.values.add(value)
            self.values.add(value.lower())
            if confidential and "@" not in value:
                self.confidential.add(value)


class ServerProcess:
    """One running `sprechstunde demo` process with its data directory and logs."""

    def __init__(self, data_dir: Path, label: str = "server", options: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.label = label
        # Further `demo` options, e.g. {"end-grace-seconds": "2"} (see `sprechstunde demo --help`).
        self.options = dict(options or {})
        self.log_dir = self.data_dir.parent / f"{self.data_dir.name}-logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = self.log_dir / "stdout.txt"
        self.stderr_path = self.log_dir / "stderr.txt"
        self.process: subprocess.Popen | None = None
        self.base_url: str | None = None
        self.config: configparser.ConfigParser | None = None
        self.secrets = Secrets()
        self.returncode: int | None = None
        self._stdout_lines: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> "ServerProcess":
        if not BINARY.exists():
            pytest.fail(
                f"sprechstunde binary not found at {BINARY}; run `swift build` or set SPRECHSTUNDE_BIN",
                pytrace=False,
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._ready.clear()
        self._stdout_lines = []
        stderr_file = open(self.stderr_path, "ab", buffering=0)
        args = [str(BINARY), "demo", "--port", "0", "--data-dir", str(self.data_dir)]
        for name, value in self.options.items():
            args += ["--" + name, str(value)]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            stdin=subprocess.DEVNULL,
            cwd=str(self.log_dir),
        )
        stderr_file.close()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._ready.wait(0.1):
                break
            if self.process.poll() is not None:
                self._fail(f"exited with status {self.process.returncode} before it was listening")
        else:
            self.process.kill()
            self.process.wait(5)
            self._fail(f"did not print the listening line within {READY_TIMEOUT:.0f} s")

        config_path = self.data_dir / "config.ini"
        assert config_path.exists(), f"{self.label}: demo did not write {config_path}"
        self.config = configparser.ConfigParser()
        self.config.read(config_path)
        for section, key in [("credentials", "password"), ("client_credentials", "client_password")]:
            self.secrets.add(self.config[section][key], confidential=True)
        self.secrets.add(self.config["credentials"]["email"])
        self.secrets.add(self.config["client_credentials"]["client_id"])
        return self

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with open(self.stdout_path, "ab") as copy:
            for raw in iter(self.process.stdout.readline, b""):
                copy.write(raw)
                copy.flush()
                line = raw.decode("utf-8", "replace")
                self._stdout_lines.append(line)
                match = LISTENING.search(line)
                if match and not self._ready.is_set():
                    self.base_url = match.group(1)
                    self._ready.set()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> int:
        """SIGTERM; fails loudly (with stderr) if the server had died or does not stop."""
        assert self.process is not None
        if self.process.poll() is not None:
            self._fail(f"died during the tests (exit status {self.process.returncode})")
        self.process.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            self._fail(f"did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM")
        if self._reader is not None:
            self._reader.join(5)
        if self.returncode != 0:
            self._fail(f"exited with status {self.returncode} after SIGTERM (expected a clean 0)")
        return self.returncode

    def _fail(self, what: str) -> None:
        pytest.fail(
            f"{self.label} ({BINARY}) {what}.\n--- stdout ---\n{''.join(self._stdout_lines)[-4000:]}"
            f"\n--- stderr ---\n{self.stderr_text()[-8000:]}",
            pytrace=False,
        )

    # -- inspection --------------------------------------------------------------------

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_leaks(self) -> list[str]:
        """What in stderr looks like an e-mail address, a token or a known secret."""
        log = self.stderr_text()
        leaks = [m.group(0) for m in EMAIL_PATTERN.finditer(log)]
        leaks += [
            m.group(0) for m in TOKEN_LIKE_PATTERN.finditer(log) if m.group(0) not in str(self.data_dir.parent)
        ]
        leaks += sorted(s for s in self.secrets.values if s in log)
        return leaks

    def assert_log_clean(self) -> None:
        leaks = self.log_leaks()
        assert not leaks, f"{self.label}: the stderr log contains e-mail addresses/tokens/secrets: {leaks[:10]}"

    @property
    def ca_path(self) -> str:
        assert self.config is not None
        return self.config["server"]["ca_bundle"]

    @property
    def admin_email(self) -> str:
        assert self.config is not None
        return self.config["credentials"]["email"]

    @property
    def admin_password(self) -> str:
        assert self.config is not None
        return self.config["credentials"]["password"]

    # -- command line ------------------------------------------------------------------

    def cli(self, *command: str, **options: str) -> subprocess.CompletedProcess:
        """`sprechstunde <command words> --data-dir DIR --option value ...`; must succeed."""
        args = [str(BINARY), *command, "--data-dir", str(self.data_dir)]
        for name, value in options.items():
            args += ["--" + name.replace("_", "-"), str(value)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (
            f"`{' '.join(command)}` failed with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
        return result

    def create_company(self, name: str) -> int:
        out = self.cli("company", "create", name=name).stdout
        match = re.search(r"Created company (\d+) \((.*)\)\.", out)
        assert match, f"unexpected output of company create: {out!r}"
        assert match.group(2) == name
        return int(match.group(1))

    def create_user(self, company_id: int | None, name: str, email: str, password: str, role: str) -> int:
        options = dict(name=name, email=email, password=password, role=role)
        if company_id is not None:
            options["company"] = str(company_id)
        self.secrets.add(email)
        self.secrets.add(password, confidential=True)
        out = self.cli("user", "create", **options).stdout
        match = re.search(r"Created (\w+) user (\d+)\.", out)
        assert match, f"unexpected output of user create: {out!r}"
        assert match.group(1) == role
        return int(match.group(2))

    def create_client(self, company_id: int, name: str = "Practice system") -> tuple[str, str]:
        """`sprechstunde client create`: a machine client of the company; returns (client_id, secret)."""
        out = self.cli("client", "create", company=str(company_id), name=name).stdout
        client_id = re.search(r"^client_id = (\S+)$", out, re.M)
        secret = re.search(r"^client_password = (\S+)$", out, re.M)
        assert client_id and secret, f"unexpected output of client create: {out!r}"
        self.secrets.add(client_id.group(1))
        self.secrets.add(secret.group(1), confidential=True)
        return client_id.group(1), secret.group(1)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "sprechstunde.sqlite"


# ---------------------------------------------------------------------------------------
# The HTTP client with contract invariants
# ---------------------------------------------------------------------------------------


def _keys_named_password(value: Any, path: str = "") -> list[str]:
    """JSON paths of object keys that mention a password, outside an error's `errors` map."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            if path == "errors":
                # `errors` names the offending fields; a field called password is fine there,
                # but its messages must be plain text.
                found += _keys_named_password(item, here)
                continue
            if "password" in key.lower() or key.lower() in ("pw", "hash", "password_hash"):
                found.append(here)
            found += _keys_named_password(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _keys_named_password(item, f"{path}[{index}]")
    return found


def check_response_invariants(response: requests.Response, secrets: Secrets | None = None) -> None:
    """The contract's promises for every single response."""
    where = f"{response.request.method} {response.request.path_url} -> {response.status_code}"
    text = response.text
    # The OpenAPI document describes the password fields and how they are stored; it is the
    # one response allowed to name them (it still must not contain a hash).
    documentation = response.request.path_url.split("?")[0] == "/api/v2/openapi.json"
    if response.status_code == 204:
        assert response.content == b"", f"{where}: 204 must have no body, got {text[:200]!r}"
    else:
        ctype = response.headers.get("Content-Type", "")
        assert ctype.lower().startswith("application/json"), f"{where}: Content-Type {ctype!r}, body {text[:200]!r}"
        try:
            body = response.json()
        except ValueError:
            pytest.fail(f"{where}: body is not JSON: {text[:300]!r}")
        if response.status_code >= 400:
            assert isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"], (
                f"{where}: error bodies are {{'message': ...}}, got {text[:300]!r}"
            )
            if "errors" in body:
                assert isinstance(body["errors"], dict), f"{where}: errors must be an object: {text[:300]!r}"
                for name, messages in body["errors"].items():
                    assert isinstance(messages, list) and all(isinstance(m, str) for m in messages), (
                        f"{where}: errors.{name} must be a list of strings"
                    )
        if not documentation:
            keys = _keys_named_password(body)
            assert not keys, f"{where}: response has password-like keys {keys}: {text[:300]!r}"
    if not documentation:
        assert "argon2" not in text.lower(), f"{where}: response mentions argon2: {text[:300]!r}"
    assert "$argon2" not in text, f"{where}: response contains a password hash: {text[:300]!r}"
    if secrets is not None:
        for secret in secrets.confidential:
            if secret in text and not _is_token_echo(response, secret):
                pytest.fail(f"{where}: response contains a password/secret we sent: {secret!r}")


def _is_token_echo(response: requests.Response, secret: str) -> bool:
    # Sign-in answers carry the token they issue; tokens are registered as secrets too.
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and secret in (body.get("access_token"), body.get("token"))


class ApiClient:
    """A thin requests wrapper bound to one server; checks invariants on every response."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.session = requests.Session()
        self.responses: list[requests.Response] = []

    @property
    def base_url(self) -> str:
        assert self.server.base_url
        return self.server.base_url

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = _MISSING,
        *,
        token: str | None = None,
        data: bytes | str | None = None,
        params: dict | None = None,
        headers: dict | None = None,
        expect: int | None = None,
    ) -> requests.Response:
        url = path if path.startswith("https://") else self.base_url + path
        sent = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            sent["Authorization"] = f"Bearer {token}"
            self.server.secrets.add(token, confidential=True)
        sent.update(headers or {})
        if json_body is not _MISSING:
            data = json.dumps(json_body)
            self._register_body_secrets(json_body)
        for value in (params or {}).values():
            if isinstance(value, str) and "@" in value:
                self.server.secrets.add(value)
        # verify is passed per request: requests lets REQUESTS_CA_BUNDLE win over Session.verify.
        response = self.session.request(
            method, url, data=data, params=params, headers=sent, verify=self.server.ca_path, timeout=60
        )
        self.responses.append(response)
        self._register_response_secrets(response)
        check_response_invariants(response, self.server.secrets)
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path}: expected {expect}, got {response.status_code}: {response.text[:500]}"
            )
        return response

    def _register_body_secrets(self, body: Any) -> None:
        if isinstance(body, dict):
            for key, value in body.items():
                if key in ("password", "pw"):
                    self.server.secrets.add(value, confidential=True)
                elif key in ("email", "client_id"):
                    self.server.secrets.add(value)
                else:
                    self._register_body_secrets(value)
        elif isinstance(body, list):
            for item in body:
                self._register_body_secrets(item)

    def _register_response_secrets(self, response: requests.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict):
            for key in ("access_token", "token"):
                self.server.secrets.add(body.get(key), confidential=True)

    # -- conveniences ------------------------------------------------------------------

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json_body: Any = _MISSING, **kw) -> requests.Response:
        return self.request("POST", path, json_body, **kw)

    def put(self, path: str, json_body: Any = _MISSING, **kw) -> requests.Response:
        return self.request("PUT", path, json_body, **kw)

    def patch(self, path: str, json_body: Any = _MISSING, **kw) -> requests.Response:
        return self.request("PATCH", path, json_body, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def sign_in(self, email: str, password: str) -> str:
        response = self.post("/api/v2/auth", {"email": email, "password": password}, expect=200)
        body = response.json()
        assert body["token_type"] == "bearer"
        assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32
        return body["access_token"]

    def client_sign_in(self, client_id: str, secret: str) -> str:
        """POST /api/v2/client; returns the machine client's bearer token."""
        response = self.post("/api/v2/client", {"client_id": client_id, "pw": secret}, expect=200)
        body = response.json()
        assert body["token"] == body["access_token"]
        return body["token"]

    def create_user(self, token: str, *, role: int = 2, company_id: int | None = None, **fields) -> dict:
        """POST /api/v2/users; returns the created user plus the password used."""
        payload = {
            "name": fields.pop("name", unique_name("Doris")),
            "email": fields.pop("email", unique_email("doc")),
            "password": fields.pop("password", "pw-" + uuid.uuid4().hex[:16]),
            "roles": [role],
        }
        if company_id is not None:
            payload["company_id"] = company_id
        payload.update(fields)
        response = self.post("/api/v2/users", payload, token=token)
        assert response.status_code == 201, f"create user: {response.status_code} {response.text[:500]}"
        user = response.json()["data"]
        user["_password"] = payload["password"]
        return user

    def find_users(self, token: str, **params) -> list[dict]:
        params.setdefault("per_page", "10000")
        return self.get("/api/v2/users", token=token, params=params, expect=200).json()["data"]


@dataclass
class Tenant:
    """A company made on the command line with an admin who has signed in."""

    company_id: int
    admin_id: int
    admin_email: str
    admin_password: str
    token: str


def make_tenant(server: ServerProcess, api: ApiClient, name: str | None = None) -> Tenant:
    name = name or f"Praxis {uuid.uuid4().hex[:6]}"
    company_id = server.create_company(name)
    email = unique_email("admin")
    password = "adm-" + uuid.uuid4().hex[:16]
    admin_id = server.create_user(company_id, unique_name("Admin"), email, password, "admin")
    token = api.sign_in(email, password)
    return Tenant(company_id, admin_id, email, password, token)


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------

_session_servers: list[ServerProcess] = []


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> ServerProcess:
    """The shared demo server, stopped with SIGTERM at the end; its log must stay clean."""
    process = ServerProcess(tmp_path_factory.mktemp("session") / "data", label="session server").start()
    _session_servers.append(process)
    yield process
    _session_servers.remove(process)
    process.stop()
    process.assert_log_clean()


@pytest.fixture(autouse=True)
def _session_server_still_alive():
    """Fail the test right away if the shared server died while it ran."""
    yield
    for process in _session_servers:
        if not process.alive():
            process._fail("died during this test")


@pytest.fixture(scope="session")
def api(server) -> ApiClient:
    return ApiClient(server)


@pytest.fixture(scope="session")
def admin_token(api, server) -> str:
    return api.sign_in(server.admin_email, server.admin_password)


@pytest.fixture(scope="session")
def demo_company_id(api, admin_token) -> int:
    companies = api.get("/api/v2/companies", token=admin_token, expect=200).json()["data"]
    assert len(companies) == 1
    return companies[0]["id"]


@pytest.fixture
def fresh_server(tmp_path) -> ServerProcess:
    """A separate, brand-new server (own data dir, own throttle state) for one test."""
    process = ServerProcess(tmp_path / "data", label="fresh server").start()
    yield process
    process.stop()  # fails loudly, with stderr, if the server died during the test
    process.assert_log_clean()


@pytest.fixture
def server_factory(tmp_path):
    """Starts further servers with `demo` options of their own: `server_factory(end_grace_seconds=2)`.
    Each is stopped (and its log checked) when the test ends."""
    started: list[ServerProcess] = []

    def start(label: str = "option server", **options: Any) -> ServerProcess:
        data_dir = tmp_path / f"data-{len(started) + 1}"
        process = ServerProcess(data_dir, label=label,
                                options={k.replace("_", "-"): str(v) for k, v in options.items()})
        started.append(process)
        return process.start()

    yield start
    for process in started:
        if process.base_url is None:
            continue  # it never came up; start() has failed the test already
        process.stop()
        process.assert_log_clean()


@pytest.fixture
def fresh_api(fresh_server) -> ApiClient:
    return ApiClient(fresh_server)


@pytest.fixture
def tenant_factory(server, api):
    """Makes a further company with its own admin through the command line."""

    def make(name: str | None = None) -> Tenant:
        return make_tenant(server, api, name)

    return make


# ---------------------------------------------------------------------------------------
# Call sessions (until the video pages exist)
# ---------------------------------------------------------------------------------------


@dataclass
class SeededSession:
    """One participant session: joined at `joined`, left at `left` (None: still in the call)."""

    user_id: int
    joined: int
    left: int | None = None
    tan: str | None = None


def seed_call_session(server: ServerProcess, call_id: int, sessions: list[SeededSession]) -> list[int]:
    """Writes participant sessions at chosen times, for the call-log listing tests.

    Writes what the video service writes through CallLogService when participants join and
    leave: one `call_logs` row per session, and the call marked running (status 1, with
    `started_at` at the first join). It goes straight into the demo's SQLite database (WAL
    mode, so this is safe while the server runs), because filters and durations need sessions
    hours apart. Real joins and leaves are tested through the video pages (test_video_browser.py,
    test_signaling_protocol.py).
    Returns the new log ids in the order of `sessions`.
    """
    assert sessions, "seed at least one session"
    now = int(time.time())
    connection = sqlite3.connect(server.database_path, timeout=15)
    try:
        connection.execute("PRAGMA busy_timeout = 15000")
        row = connection.execute(
            "SELECT company_id FROM calls WHERE id = ? AND deleted_at IS NULL", (call_id,)
        ).fetchone()
        assert row, f"seed_call_session: call {call_id} does not exist (or was deleted)"
        company_id = row[0]
        log_ids = []
        with connection:  # one transaction
            for session in sessions:
                # An open session was seen just now, so the server's vanished-peer sweep
                # (60 s of silence) leaves it open while the test runs.
                last_seen = session.left if session.left is not None else now
                updated = session.left if session.left is not None else session.joined
                cursor = connection.execute(
                    "INSERT INTO call_logs (call_id, company_id, user_id, tan, created_at, updated_at, "
                    "last_seen_at, end_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (call_id, company_id, session.user_id, session.tan, session.joined, updated, last_seen,
                     session.left),
                )
                log_ids.append(cursor.lastrowid)
            connection.execute(
                "UPDATE calls SET status = 1, started_at = ? WHERE id = ?",
                (min(session.joined for session in sessions), call_id),
            )
    finally:
        connection.close()
    return log_ids


@pytest.fixture
def config(server) -> configparser.ConfigParser:
    """The demo's config.ini, read as integrators' notebooks read it."""
    parsed = configparser.ConfigParser()
    assert parsed.read(server.data_dir / "config.ini"), "config.ini could not be read"
    return parsed


@pytest.fixture
def trust_demo_certificate(config, monkeypatch) -> None:
    """What an integrator sets besides the hostname: trust the demo's self-signed certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", config["server"]["ca_bundle"])
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
