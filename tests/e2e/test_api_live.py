"""Live API tests against the real server binary over HTTPS (see conftest.py)."""

from __future__ import annotations

import re
import socket
import ssl
import statistics
import time
import urllib.parse
import uuid

import pytest
import requests

from conftest import (
    ApiClient,
    ServerProcess,
    check_response_invariants,
    unique_email,
    unique_name,
)

USER_FIELDS = {
    "id", "name", "firstname", "lastname", "title", "created_at", "updated_at", "deleted_at", "status",
    "gender", "company_id", "company_name", "ousubsidiary_id", "ousubsidiary_name", "oulocation_id",
    "oulocation_name", "department_id", "department_name", "languages", "roles", "permissions", "tan",
    "tan_valid_from", "tan_valid_until", "consentstatus", "tags", "email_verified_at", "is_unlocked",
    "expires_at", "is_app_user", "description", "extid", "newsletter", "email", "mobile",
    "notification_options",
}
ONE_MIB = 1024 * 1024


def assert_retry_after(response: requests.Response) -> int:
    assert response.status_code == 429, f"expected 429, got {response.status_code}: {response.text[:300]}"
    value = response.headers.get("Retry-After")
    assert value is not None, "429 without a Retry-After header"
    assert value.isdigit(), f"Retry-After must be whole seconds, got {value!r}"
    seconds = int(value)
    assert 1 <= seconds <= 15 * 60, f"Retry-After {seconds} s is outside the 15-minute window"
    return seconds


# ---------------------------------------------------------------------------------------
# Sign-in and tokens
# ---------------------------------------------------------------------------------------


def test_sign_in_success(api, server):
    response = api.post("/api/v2/auth", {"email": server.admin_email, "password": server.admin_password}, expect=200)
    body = response.json()
    assert set(body) >= {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    token = body["access_token"]
    assert re.fullmatch(r"[A-Za-z0-9_\-]{32,}", token), f"token does not look opaque and long: {token!r}"
    assert response.headers.get("Cache-Control", "").lower().find("no-store") >= 0, "tokens must not be cached"
    # The token is usable.
    api.get("/api/v2/companies", token=token, expect=200)


def test_sign_in_email_is_case_insensitive(api, server):
    api.post("/api/v2/auth", {"email": server.admin_email.upper(), "password": server.admin_password}, expect=200)


def test_two_sign_ins_give_different_tokens(api, server):
    first = api.sign_in(server.admin_email, server.admin_password)
    second = api.sign_in(server.admin_email, server.admin_password)
    assert first != second


def test_wrong_password_and_unknown_email_answer_identically(api, admin_token):
    victim = api.create_user(admin_token, role=2)
    wrong = api.post("/api/v2/auth", {"email": victim["email"], "password": "not-the-password-1"})
    unknown = api.post("/api/v2/auth", {"email": unique_email("nobody"), "password": "not-the-password-1"})
    assert wrong.status_code == 401, wrong.text
    assert unknown.status_code == 401, unknown.text
    assert wrong.content == unknown.content, f"bodies differ: {wrong.text!r} vs {unknown.text!r}"
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert wrong.headers.get("Content-Type") == unknown.headers.get("Content-Type")


def test_wrong_password_and_unknown_email_take_similar_time(api, admin_token):
    victim = api.create_user(admin_token, role=2)

    def timed(email: str) -> float:
        started = time.perf_counter()
        response = api.post("/api/v2/auth", {"email": email, "password": "wrong-password-22"})
        elapsed = time.perf_counter() - started
        assert response.status_code == 401
        return elapsed

    wrong = statistics.median(timed(victim["email"]) for _ in range(3))
    unknown = statistics.median(timed(unique_email("ghost")) for _ in range(3))
    # Both must do the password-hash work; a missing account answered without it is many
    # times faster. A factor of three leaves room for noise.
    assert unknown >= wrong / 3, f"unknown e-mail answered in {unknown:.3f} s, wrong password in {wrong:.3f} s"
    assert wrong >= unknown / 3, f"wrong password answered in {wrong:.3f} s, unknown e-mail in {unknown:.3f} s"


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "someone@example.org"}, {"password": "12345678"}, {"email": 5, "password": "12345678"}],
    ids=["empty", "no-password", "no-email", "email-not-string"],
)
def test_sign_in_with_incomplete_body_is_422(api, body):
    response = api.post("/api/v2/auth", body)
    assert response.status_code == 422, response.text
    assert response.json().get("errors"), "422 must list the field errors"


def test_missing_or_bogus_token_is_401(api):
    response = api.get("/api/v2/users")
    assert response.status_code == 401
    assert "bearer" in response.headers.get("WWW-Authenticate", "").lower()
    api.get("/api/v2/users", token="x" * 48, expect=401)
    api.get("/api/v2/users", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}, expect=401)


def test_logout_revokes_the_token(api, server):
    token = api.sign_in(server.admin_email, server.admin_password)
    other = api.sign_in(server.admin_email, server.admin_password)
    api.get("/api/v2/users", token=token, expect=200)
    api.post("/api/v2/auth/logout", token=token, expect=204)
    api.get("/api/v2/users", token=token, expect=401)
    api.get("/api/v2/companies", token=token, expect=401)
    api.post("/api/v2/auth/logout", token=token, expect=401)
    # Logging out one session leaves the others alone.
    api.get("/api/v2/users", token=other, expect=200)


def test_throttling_per_account_gives_429_with_retry_after(fresh_server, fresh_api):
    email, password = fresh_server.admin_email, fresh_server.admin_password
    for attempt in range(10):
        response = fresh_api.post("/api/v2/auth", {"email": email, "password": f"wrong-{attempt:02d}-password"})
        assert response.status_code == 401, f"attempt {attempt + 1}: {response.status_code} {response.text}"
    blocked = fresh_api.post("/api/v2/auth", {"email": email, "password": "wrong-11-password"})
    assert_retry_after(blocked)
    # While throttled even the right password is refused, or guessing could go on.
    assert_retry_after(fresh_api.post("/api/v2/auth", {"email": email, "password": password}))
    # Other accounts from the same address are not locked out by this one.
    other = fresh_api.post("/api/v2/auth", {"email": unique_email("other"), "password": "wrong-password-x"})
    assert other.status_code == 401, other.text


def test_throttling_per_address_gives_429_with_retry_after(fresh_server, fresh_api):
    # 50 failures spread over different accounts, so no account limit is reached.
    for attempt in range(50):
        response = fresh_api.post("/api/v2/auth", {"email": unique_email(f"spray{attempt}"), "password": "wrong-pass"})
        assert response.status_code == 401, f"attempt {attempt + 1}: {response.status_code} {response.text}"
    assert_retry_after(fresh_api.post("/api/v2/auth", {"email": unique_email("spray-last"), "password": "wrong-pass"}))
    assert_retry_after(
        fresh_api.post("/api/v2/auth", {"email": fresh_server.admin_email, "password": fresh_server.admin_password})
    )


def test_one_address_holds_at_most_the_configured_connections(server_factory):
    limited = server_factory(label="connection limit server", max_connections_per_address=3)
    url = urllib.parse.urlsplit(limited.base_url)
    context = ssl.create_default_context(cafile=limited.ca_path)

    def open_tls() -> ssl.SSLSocket:
        raw = socket.create_connection((url.hostname, url.port), timeout=5)
        try:
            return context.wrap_socket(raw, server_hostname=url.hostname)
        except BaseException:
            raw.close()
            raise

    def healthz(connection: ssl.SSLSocket) -> bytes:
        connection.sendall(f"GET /healthz HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
        return connection.recv(4096)

    held = [open_tls() for _ in range(3)]
    try:
        for connection in held:
            assert healthz(connection).startswith(b"HTTP/1.1 200"), "a connection within the limit must be served"
        # The fourth is closed as it arrives: no TLS handshake.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            open_tls().close()
        # One closed, one more is allowed again.
        held.pop().close()
        deadline = time.monotonic() + 10
        while True:
            try:
                again = open_tls()
                break
            except (ssl.SSLError, ConnectionError):
                assert time.monotonic() < deadline, "a freed connection slot stayed taken for 10 s"
                time.sleep(0.2)
        held.append(again)
        assert healthz(again).startswith(b"HTTP/1.1 200")
    finally:
        for connection in held:
            connection.close()


@pytest.mark.parametrize("path, repeated", [
    ("/api/v2/users", "Host: evil.example"),
    ("/api/v2/users", "Authorization: Bearer another-token"),
    ("/video/signal", "Origin: https://evil.example"),
])
def test_a_header_that_must_come_once_twice_is_400(server, admin_token, path, repeated):
    """Which of two Host, Authorization or Origin headers counts would be a guess (RFC 9112:
    400 for two Host headers)."""
    url = urllib.parse.urlsplit(server.base_url)
    context = ssl.create_default_context(cafile=server.ca_path)
    with socket.create_connection((url.hostname, url.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=url.hostname) as connection:
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", f"Authorization: Bearer {admin_token}",
                 f"Origin: {server.base_url}", "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", repeated]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"more than once" in body, body


def test_throttling_client_sign_in(fresh_server, fresh_api):
    client_id = fresh_server.config["client_credentials"]["client_id"]
    for attempt in range(10):
        response = fresh_api.post("/api/v2/client", {"client_id": client_id, "pw": f"wrong-secret-{attempt}"})
        assert response.status_code == 401, f"attempt {attempt + 1}: {response.status_code} {response.text}"
    assert_retry_after(fresh_api.post("/api/v2/client", {"client_id": client_id, "pw": "wrong-secret-x"}))
    assert_retry_after(
        fresh_api.post(
            "/api/v2/client", {"client_id": client_id, "pw": fresh_server.config["client_credentials"]["client_password"]}
        )
    )


# ---------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------


def test_user_crud(api, admin_token, demo_company_id):
    email = unique_email("crud")
    created = api.post("/api/v2/users", {
        "name": "Clara Crud",
        "email": email,
        "password": "crud-password-1",
        "company_id": demo_company_id,
        "roles": [3],
        "title": "Dr.",
        "gender": "female",
        "mobile": "+49 170 1234567",
        "languages": ["de", "en"],
        "extid": "ext-42",
        "description": "front desk",
    }, token=admin_token)
    assert created.status_code == 201, created.text
    user = created.json()["data"]
    assert USER_FIELDS <= set(user), f"missing fields: {sorted(USER_FIELDS - set(user))}"
    assert (user["firstname"], user["lastname"]) == ("Clara", "Crud")
    assert user["roles"] == [{"id": 3, "name": "assistant"}]
    assert user["title"] == "Dr." and user["gender"] == "female" and user["mobile"] == "+49 170 1234567"
    assert user["languages"] == ["de", "en"] and user["extid"] == "ext-42" and user["description"] == "front desk"
    assert user["company_id"] == demo_company_id and user["deleted_at"] is None
    user_id = user["id"]

    shown = api.get(f"/api/v2/users/{user_id}", token=admin_token, expect=200).json()["data"]
    assert shown == user

    put = api.put(f"/api/v2/users/{user_id}", {"name": "Clara Maria Neu", "title": "Prof."}, token=admin_token,
                  expect=200).json()["data"]
    assert (put["name"], put["firstname"], put["lastname"]) == ("Clara Maria Neu", "Clara", "Maria Neu")
    assert put["title"] == "Prof."
    assert put["email"] == email, "PUT with some fields must leave the others alone"
    assert put["updated_at"] >= user["updated_at"]

    patched = api.patch(f"/api/v2/users/{user_id}", {"mobile": "+49 171 7654321", "extid": None},
                        token=admin_token, expect=200).json()["data"]
    assert patched["mobile"] == "+49 171 7654321"
    assert patched["extid"] is None
    assert patched["name"] == "Clara Maria Neu"

    again = api.get(f"/api/v2/users/{user_id}", token=admin_token, expect=200).json()["data"]
    assert again["mobile"] == "+49 171 7654321" and again["title"] == "Prof."

    deleted = api.delete(f"/api/v2/users/{user_id}", token=admin_token)
    assert deleted.status_code == 204
    assert deleted.content == b""
    api.get(f"/api/v2/users/{user_id}", token=admin_token, expect=404)
    api.put(f"/api/v2/users/{user_id}", {"title": "x"}, token=admin_token, expect=404)
    api.delete(f"/api/v2/users/{user_id}", token=admin_token, expect=404)
    assert not [u for u in api.find_users(admin_token, search=email) if u["id"] == user_id]
    assert not [u for u in api.find_users(admin_token) if u["id"] == user_id]


def test_password_change_takes_effect(api, admin_token):
    user = api.create_user(admin_token, role=2)
    api.patch(f"/api/v2/users/{user['id']}", {"password": "brand-new-secret"}, token=admin_token, expect=200)
    api.post("/api/v2/auth", {"email": user["email"], "password": user["_password"]}, expect=401)
    api.sign_in(user["email"], "brand-new-secret")


def test_email_is_stored_lower_case_and_unique_ignoring_case(api, admin_token):
    local = f"Dup.{uuid.uuid4().hex[:8]}"
    mixed = f"{local}@Praxis-E2E.Example"
    user = api.create_user(admin_token, email=mixed)
    assert user["email"] == mixed.lower()

    for variant in (mixed.lower(), mixed, mixed.upper()):
        response = api.post("/api/v2/users", {
            "name": "Dupli Kat", "email": variant, "password": "dup-password", "roles": [2],
        }, token=admin_token)
        assert response.status_code == 422, f"{variant}: {response.status_code} {response.text}"
        assert "email" in response.json().get("errors", {}), response.text
    matches = [u for u in api.find_users(admin_token, search=mixed.lower()) if u["email"] == mixed.lower()]
    assert len(matches) == 1

    # Changing another user's address to the taken one is refused as well.
    other = api.create_user(admin_token)
    response = api.patch(f"/api/v2/users/{other['id']}", {"email": mixed.upper()}, token=admin_token)
    assert response.status_code == 422 and "email" in response.json().get("errors", {}), response.text


def test_create_user_unknown_notification_id_is_422(api, admin_token):
    email = unique_email("notif")
    response = api.post("/api/v2/users", {
        "name": "Nora Tif", "email": email, "password": "notif-password", "roles": [2],
        "notification_options": [{"notification_id": 1001, "enabled": True},
                                 {"notification_id": 9999, "enabled": True}],
    }, token=admin_token)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(key.startswith("notification_options") for key in errors), errors
    assert "9999" in str(errors)
    assert not api.find_users(admin_token, search=email), "a refused user must not have been created"


def test_create_user_short_password_is_422_and_eight_is_enough(api, admin_token):
    email = unique_email("short")
    response = api.post("/api/v2/users", {
        "name": "Kurt Kurz", "email": email, "password": "7-chars", "roles": [2],
    }, token=admin_token)
    assert response.status_code == 422, response.text
    assert "password" in response.json()["errors"]
    assert not api.find_users(admin_token, search=email)
    user = api.create_user(admin_token, email=email, password="8-chars!")
    api.sign_in(user["email"], "8-chars!")


@pytest.mark.parametrize("roles", [[5], [1], [99], []], ids=["superadmin", "tanuser", "unknown", "none"])
def test_create_user_with_ungrantable_roles_is_422(api, admin_token, roles):
    email = unique_email("roles")
    response = api.post("/api/v2/users", {
        "name": "Rolf Rolle", "email": email, "password": "roles-password", "roles": roles,
    }, token=admin_token)
    assert response.status_code == 422, response.text
    assert "roles" in response.json()["errors"]
    assert not api.find_users(admin_token, search=email)


def test_create_user_reports_all_field_errors_at_once(api, admin_token):
    response = api.post("/api/v2/users", {"email": "not-an-address", "password": "short", "roles": []},
                        token=admin_token)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {"name", "email", "password", "roles"} <= set(errors), errors


def test_deleted_users_token_stops_working(api, admin_token):
    user = api.create_user(admin_token, role=2)
    token = api.sign_in(user["email"], user["_password"])
    api.get(f"/api/v2/users/{user['id']}", token=token, expect=200)
    api.delete(f"/api/v2/users/{user['id']}", token=admin_token, expect=204)
    api.get(f"/api/v2/users/{user['id']}", token=token, expect=401)
    api.get("/api/v2/users", token=token, expect=401)
    api.post("/api/v2/auth", {"email": user["email"], "password": user["_password"]}, expect=401)


def test_locked_users_token_stops_working(api, admin_token):
    user = api.create_user(admin_token, role=2)
    token = api.sign_in(user["email"], user["_password"])
    api.patch(f"/api/v2/users/{user['id']}", {"is_unlocked": False}, token=admin_token, expect=200)
    api.get("/api/v2/users", token=token, expect=401)


def test_admin_cannot_delete_itself(api, server, admin_token, demo_company_id):
    me = [u for u in api.find_users(admin_token, search=server.admin_email)]
    assert len(me) == 1
    response = api.delete(f"/api/v2/users/{me[0]['id']}", token=admin_token)
    assert response.status_code in (403, 409), response.text
    api.get(f"/api/v2/users/{me[0]['id']}", token=admin_token, expect=200)


# ---------------------------------------------------------------------------------------
# Roles and tenants
# ---------------------------------------------------------------------------------------


def test_doctor_cannot_create_users_and_sees_only_self(api, admin_token, demo_company_id):
    colleague = api.create_user(admin_token, role=3)
    doctor = api.create_user(admin_token, role=2)
    token = api.sign_in(doctor["email"], doctor["_password"])

    email = unique_email("by-doc")
    response = api.post("/api/v2/users", {
        "name": "Not Allowed", "email": email, "password": "doc-made-pass", "roles": [2],
        "company_id": demo_company_id,
    }, token=token)
    assert response.status_code == 403, response.text
    assert not api.find_users(admin_token, search=email)

    listing = api.get("/api/v2/users", token=token, params={"per_page": "100"}, expect=200).json()
    assert [u["id"] for u in listing["data"]] == [doctor["id"]]
    assert listing["meta"]["total"] == 1

    api.get(f"/api/v2/users/{doctor['id']}", token=token, expect=200)
    api.get(f"/api/v2/users/{colleague['id']}", token=token, expect=404)
    for method in ("PUT", "DELETE"):
        body = {"name": "Hijacked Name"} if method == "PUT" else None
        kwargs = {"json_body": body} if body else {}
        response = api.request(method, f"/api/v2/users/{colleague['id']}", token=token, **kwargs)
        assert response.status_code in (403, 404), f"{method}: {response.status_code} {response.text}"
    still = api.get(f"/api/v2/users/{colleague['id']}", token=admin_token, expect=200).json()["data"]
    assert still["name"] == colleague["name"] and still["deleted_at"] is None


def test_doctor_cannot_raise_own_role(api, admin_token):
    doctor = api.create_user(admin_token, role=2)
    token = api.sign_in(doctor["email"], doctor["_password"])
    response = api.patch(f"/api/v2/users/{doctor['id']}", {"roles": [4]}, token=token)
    assert response.status_code in (403, 422), response.text
    me = api.get(f"/api/v2/users/{doctor['id']}", token=admin_token, expect=200).json()["data"]
    assert me["roles"] == [{"id": 2, "name": "doc"}]


def _without(text: str, number: int) -> str:
    return text.replace(str(number), "N")


def test_tenant_isolation(api, admin_token, demo_company_id, tenant_factory):
    target = api.create_user(admin_token, role=2, title="Dr.")
    other = tenant_factory("Praxis Zwei")
    assert other.company_id != demo_company_id

    # Company B's admin is told "not found" for A's user: same status and message as for
    # an id that does not exist at all.
    missing_id = 10_000_000 + target["id"]
    for method, body in (("GET", None), ("PUT", {"title": "Hacked"}), ("PATCH", {"title": "Hacked"}), ("DELETE", None)):
        kwargs = {"json_body": body} if body else {}
        foreign = api.request(method, f"/api/v2/users/{target['id']}", token=other.token, **kwargs)
        absent = api.request(method, f"/api/v2/users/{missing_id}", token=other.token, **kwargs)
        assert foreign.status_code == 404, f"{method} foreign user: {foreign.status_code} {foreign.text}"
        assert absent.status_code == 404
        assert _without(foreign.text, target["id"]) == _without(absent.text, missing_id), (
            f"{method}: a foreign user's 404 differs from a missing one's: {foreign.text!r} vs {absent.text!r}"
        )
    unchanged = api.get(f"/api/v2/users/{target['id']}", token=admin_token, expect=200).json()["data"]
    assert unchanged["title"] == "Dr." and unchanged["deleted_at"] is None

    # Not in B's lists, however asked for.
    ids_seen = {u["id"] for u in api.find_users(other.token)}
    ids_seen |= {u["id"] for u in api.find_users(other.token, search=target["email"])}
    ids_seen |= {u["id"] for u in api.find_users(other.token, role="doc")}
    assert target["id"] not in ids_seen
    assert other.admin_id in ids_seen
    for user in api.find_users(other.token):
        assert user["company_id"] == other.company_id

    companies = api.get("/api/v2/companies", token=other.token, params={"per_page": "10000"}, expect=200).json()
    assert [c["id"] for c in companies["data"]] == [other.company_id]
    assert companies["meta"]["total"] == 1
    api.get(f"/api/v2/companies/{demo_company_id}", token=other.token, expect=404)

    # B's admin cannot place a user into company A.
    email = unique_email("smuggled")
    response = api.post("/api/v2/users", {
        "name": "Smug Gled", "email": email, "password": "smuggle-pass", "roles": [2],
        "company_id": demo_company_id,
    }, token=other.token)
    assert response.status_code in (403, 404, 422), response.text
    assert not api.find_users(admin_token, search=email)

    # And the other way round: A's admin does not see B's admin.
    api.get(f"/api/v2/users/{other.admin_id}", token=admin_token, expect=404)
    assert other.admin_id not in {u["id"] for u in api.find_users(admin_token)}
    a_companies = api.get("/api/v2/companies", token=admin_token, expect=200).json()["data"]
    assert [c["id"] for c in a_companies] == [demo_company_id]


def test_user_email_of_other_tenant_is_still_unique(api, admin_token, tenant_factory):
    """E-mail is the sign-in name, so it is unique across tenants too."""
    other = tenant_factory()
    user = api.create_user(admin_token)
    response = api.post("/api/v2/users", {
        "name": "Same Mail", "email": user["email"], "password": "same-mail-pass", "roles": [2],
    }, token=other.token)
    assert response.status_code == 422, response.text
    # The answer must not leak anything about the other tenant's user beyond "taken".
    assert str(user["id"]) not in response.text and user["name"] not in response.text


# ---------------------------------------------------------------------------------------
# Pagination
# ---------------------------------------------------------------------------------------


def test_pagination_meta_and_links(api, server, tenant_factory):
    tenant = tenant_factory()
    made = [api.create_user(tenant.token, role=2, name=f"Page User{i}") for i in range(5)]
    expected_ids = {tenant.admin_id} | {u["id"] for u in made}

    first = api.get("/api/v2/users", token=tenant.token, params={"per_page": "2"}, expect=200).json()
    meta, links = first["meta"], first["links"]
    assert meta["per_page"] == 2
    assert meta["total"] == 6
    assert meta["last_page"] == 3
    assert meta["current_page"] == 1
    assert (meta["from"], meta["to"]) == (1, 2)
    assert len(first["data"]) == 2
    assert links["prev"] is None
    assert links["next"] and links["first"] and links["last"]

    seen = [u["id"] for u in first["data"]]
    page = first
    pages = 1
    while page["links"]["next"]:
        next_url = page["links"]["next"]
        assert next_url.startswith(server.base_url), f"next link {next_url!r} is not on this server"
        page = api.get(next_url, token=tenant.token, expect=200).json()
        pages += 1
        assert page["meta"]["current_page"] == pages
        assert page["meta"]["per_page"] == 2, "the next link must keep per_page"
        assert page["links"]["prev"], "pages after the first have a prev link"
        seen += [u["id"] for u in page["data"]]
        assert pages <= 10, "next links never end"
    assert pages == 3
    assert (page["meta"]["from"], page["meta"]["to"]) == (5, 6)
    assert len(seen) == len(set(seen)) == 6, f"pages overlap or miss users: {seen}"
    assert set(seen) == expected_ids

    last = api.get(first["links"]["last"], token=tenant.token, expect=200).json()
    assert last["meta"]["current_page"] == 3 and last["links"]["next"] is None

    beyond = api.get("/api/v2/users", token=tenant.token, params={"per_page": "2", "page": "9"}, expect=200).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 6

    default = api.get("/api/v2/users", token=tenant.token, expect=200).json()
    assert default["meta"]["per_page"] == 15 and default["meta"]["last_page"] == 1
    assert default["links"]["next"] is None

    big = api.get("/api/v2/users", token=tenant.token, params={"per_page": "10000"}, expect=200).json()
    assert big["meta"]["per_page"] == 10000 and len(big["data"]) == 6


@pytest.mark.parametrize("params", [{"per_page": "0"}, {"per_page": "10001"}, {"page": "0"}, {"per_page": "abc"}])
def test_bad_pagination_arguments_are_422(api, admin_token, params):
    response = api.get("/api/v2/users", token=admin_token, params=params)
    assert response.status_code == 422, response.text


# ---------------------------------------------------------------------------------------
# HTTP behaviour
# ---------------------------------------------------------------------------------------


def test_malformed_json_is_400(api, admin_token):
    for path, token in (("/api/v2/auth", None), ("/api/v2/users", admin_token)):
        response = api.request("POST", path, data='{"name": "half', token=token)
        assert response.status_code == 400, f"{path}: {response.status_code} {response.text}"
        assert response.json()["message"]


def test_non_object_json_is_rejected(api, admin_token):
    response = api.request("POST", "/api/v2/users", data="[1, 2, 3]", token=admin_token)
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize("path", ["/nope", "/api/v2/nothing-here", "/api/v2/users/1/whatever", "/api/v3/users"])
def test_unknown_route_is_404_json(api, path):
    response = api.get(path)
    assert response.status_code == 404, response.text
    assert response.json()["message"]


@pytest.mark.parametrize(
    "method, path, allowed",
    [("DELETE", "/api/v2/users", {"GET", "POST"}), ("GET", "/api/v2/auth", {"POST"}),
     ("POST", "/api/v2/users/1", {"GET", "PUT", "PATCH", "DELETE"}), ("PUT", "/healthz", {"GET"})],
)
def test_wrong_method_is_405_with_allow(api, method, path, allowed):
    kwargs = {"json_body": {}} if method in ("POST", "PUT") else {}
    response = api.request(method, path, **kwargs)
    assert response.status_code == 405, response.text
    allow = {part.strip().upper() for part in response.headers.get("Allow", "").split(",") if part.strip()}
    assert allowed <= allow, f"Allow {response.headers.get('Allow')!r} lacks {allowed - allow}"
    assert method not in allow
    assert response.json()["message"]


@pytest.mark.parametrize("size", [ONE_MIB + 1, 3 * ONE_MIB])
def test_body_too_large_is_413_json(api, admin_token, size):
    """An ordinary client (requests, no `Expect: 100-continue`) uploading too much must read
    a 413, not a broken connection. Repeated, because a server that answers early and closes
    without draining the upload loses the race only some of the time."""
    filler = "a" * (size - len('{"description":""}'))
    body = '{"description":"' + filler + '"}'
    assert len(body) == size
    outcomes = []
    for _ in range(10):
        try:
            response = api.request("POST", "/api/v2/users", data=body, token=admin_token)
        except requests.exceptions.ConnectionError as error:
            outcomes.append(f"connection error before any response ({type(error).__name__}: {str(error)[-90:]})")
            continue
        outcomes.append(response.status_code)
        if response.status_code == 413:
            assert response.json()["message"]
    assert outcomes == [413] * 10, f"POST /api/v2/users with a {size}-byte body: {outcomes}"


def test_body_of_exactly_one_mib_is_not_413(api, admin_token):
    filler = "a" * (ONE_MIB - len('{"description":""}'))
    body = '{"description":"' + filler + '"}'
    assert len(body) == ONE_MIB
    response = api.request("POST", "/api/v2/users", data=body, token=admin_token)
    assert response.status_code == 422, f"{response.status_code} {response.text[:300]}"


def test_get_with_json_body_and_content_type_is_accepted(api, admin_token):
    for path in ("/api/v2/companies", "/api/v2/users"):
        for data in ("{}", "", None):
            response = api.request("GET", path, data=data, token=admin_token)
            assert response.status_code == 200, f"GET {path} with body {data!r}: {response.status_code} {response.text}"
            assert "data" in response.json()


def test_health_endpoints(api):
    health = api.get("/healthz", expect=200).json()
    assert health == {"status": "ok"}
    ready = api.get("/readyz", expect=200).json()
    assert ready == {"status": "ready"}


def test_security_headers(api):
    response = api.get("/healthz", expect=200)
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "max-age" in response.headers.get("Strict-Transport-Security", "")


def test_tls_certificate_is_verified_and_plain_http_is_not_served(server):
    # The demo certificate verifies for 127.0.0.1 with the CA file from config.ini ...
    assert requests.get(server.base_url + "/healthz", verify=server.ca_path, timeout=10).status_code == 200
    # ... and not against the system trust store.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.base_url + "/healthz", verify=True, timeout=10)
    # Plain HTTP on the HTTPS port never returns API data.
    plain = server.base_url.replace("https://", "http://")
    try:
        response = requests.get(plain + "/healthz", timeout=10)
    except requests.exceptions.RequestException:
        return
    assert response.status_code >= 400 or "ok" not in response.text


# ---------------------------------------------------------------------------------------
# Invariants over every response, and the log
# ---------------------------------------------------------------------------------------


def test_every_response_is_json_and_never_leaks_passwords(api, server, admin_token):
    """A tour over success and error paths; ApiClient checks each response, and this test
    re-checks everything every test sent through the shared client so far."""
    doctor = api.create_user(admin_token, role=2)
    doc_token = api.sign_in(doctor["email"], doctor["_password"])
    tour = [
        ("GET", "/healthz", None, None), ("GET", "/readyz", None, None),
        ("GET", "/api/v2/companies", None, admin_token), ("GET", "/api/v2/users", None, admin_token),
        ("GET", f"/api/v2/users/{doctor['id']}", None, admin_token),
        ("GET", f"/api/v2/users/{doctor['id']}", None, doc_token),
        ("PATCH", f"/api/v2/users/{doctor['id']}", {"password": "another-password"}, admin_token),
        ("PATCH", f"/api/v2/users/{doctor['id']}", {"password": "short"}, admin_token),
        ("POST", "/api/v2/users", {"name": "X", "email": "bad", "password": "x"}, admin_token),
        ("POST", "/api/v2/users", {}, doc_token),
        ("POST", "/api/v2/auth", {"email": doctor["email"], "password": "another-password"}, None),
        ("POST", "/api/v2/auth", {"email": doctor["email"]}, None),
        ("GET", "/api/v2/users/999999999", None, admin_token),
        ("DELETE", "/api/v2/companies", None, admin_token),
        ("GET", "/api/v2/roles", None, admin_token),
        ("GET", "/api/v2/openapi.json", None, None),
        ("GET", "/no/such/thing", None, None),
        ("DELETE", f"/api/v2/users/{doctor['id']}", None, admin_token),
    ]
    statuses = []
    for method, path, body, token in tour:
        kwargs = {"json_body": body} if body is not None else {}
        statuses.append(api.request(method, path, token=token, **kwargs).status_code)
    assert 204 in statuses and 422 in statuses and 404 in statuses and 200 in statuses, statuses
    assert len(api.responses) >= len(tour)
    for response in api.responses:
        check_response_invariants(response, server.secrets)
        assert "$argon2" not in response.text
        assert "another-password" not in response.text


def test_access_log_has_no_emails_or_tokens(api, server, admin_token):
    user = api.create_user(admin_token, role=2)
    token = api.sign_in(user["email"], user["_password"])
    api.get("/api/v2/users", token=token, params={"search": user["email"]}, expect=200)
    api.get("/api/v2/users", token=admin_token, params={"search": user["email"], "per_page": "3"}, expect=200)
    api.post("/api/v2/auth", {"email": user["email"], "password": "wrong-password-!"}, expect=401)
    api.get(f"/api/v2/users?email={user['email']}&search={user['email'].upper()}", token=token, expect=200)
    log = server.stderr_text()
    assert "route=/api/v2/users" in log and "route=/api/v2/auth" in log, "the access log is missing requests"
    for secret in (user["email"], user["_password"], token, admin_token, server.admin_email, server.admin_password):
        assert secret not in log, f"the access log contains {secret!r}"
    server.assert_log_clean()


# ---------------------------------------------------------------------------------------
# Restarting the demo
# ---------------------------------------------------------------------------------------


def test_second_start_keeps_credentials(tmp_path):
    data_dir = tmp_path / "demo"
    first = ServerProcess(data_dir, label="first start").start()
    try:
        first_config = {s: dict(first.config[s]) for s in first.config.sections()}
        first_api = ApiClient(first)
        first_api.sign_in(first.admin_email, first.admin_password)
    finally:
        first.stop()
    first.assert_log_clean()

    second = ServerProcess(data_dir, label="second start").start()
    try:
        assert second.process.pid != first.process.pid
        second_config = {s: dict(second.config[s]) for s in second.config.sections()}
        assert second_config["credentials"] == first_config["credentials"]
        assert second_config["client_credentials"] == first_config["client_credentials"]
        second_api = ApiClient(second)
        # Sign in with what the first start wrote to config.ini.
        second_api.sign_in(first_config["credentials"]["email"], first_config["credentials"]["password"])
        client = second_api.post("/api/v2/client", {
            "client_id": first_config["client_credentials"]["client_id"],
            "pw": first_config["client_credentials"]["client_password"],
        }, expect=200).json()
        assert client["access_token"] == client["token"]
    finally:
        second.stop()
    second.assert_log_clean()


def test_second_start_keeps_users_and_tokens(tmp_path):
    data_dir = tmp_path / "demo"
    first = ServerProcess(data_dir, label="first start").start()
    try:
        first_api = ApiClient(first)
        token = first_api.sign_in(first.admin_email, first.admin_password)
        doctor = first_api.create_user(token, role=2)
    finally:
        first.stop()

    second = ServerProcess(data_dir, label="second start").start()
    try:
        second_api = ApiClient(second)
        shown = second_api.get(f"/api/v2/users/{doctor['id']}", token=token, expect=200).json()["data"]
        assert shown["email"] == doctor["email"]
        second_api.sign_in(doctor["email"], doctor["_password"])
    finally:
        second.stop()


def test_nothing_accepted_is_lost_when_the_process_is_killed(tmp_path):
    """Every 201/204 was committed before it was sent: SIGKILL right after loses none of it."""
    data_dir = tmp_path / "demo"
    first = ServerProcess(data_dir, label="killed server").start()
    api = ApiClient(first)
    token = api.sign_in(first.admin_email, first.admin_password)
    doctors = [api.create_user(token, role=2) for _ in range(3)]
    call = api.post("/api/v2/calls", {"duration": 15, "tan_username": "Kim"}, token=token)
    assert call.status_code == 201, call.text
    gone = doctors.pop()
    assert api.delete(f"/api/v2/users/{gone['id']}", token=token).status_code == 204
    first.process.kill()  # SIGKILL: no shutdown code runs
    first.process.wait(10)

    second = ServerProcess(data_dir, label="after SIGKILL").start()
    try:
        again = ApiClient(second)
        for doctor in doctors:
            again.sign_in(doctor["email"], doctor["_password"])
        assert again.get(f"/api/v2/users/{gone['id']}", token=token).status_code == 404
        shown = again.get(f"/api/v2/calls/{call.json()['data']['id']}", token=token, expect=200).json()["data"]
        assert [u["tan"] for u in shown["users"] if u["role_name"] == "tanuser"] == [
            u["tan"] for u in call.json()["data"]["users"] if u["role_name"] == "tanuser"
        ]
    finally:
        second.stop()


@pytest.mark.parametrize("path", ["/api/v2/users/%00", "/api/v2/users/1%00abc", "/api/v2/users%00", "/api/v2/users/01"])
def test_a_path_means_what_it_says(api, admin_token, path):
    """A NUL escape must not cut the path short (it would reach another route), ids have one spelling."""
    response = api.get(path, token=admin_token)
    assert response.status_code == 404, f"{path}: {response.status_code} {response.text[:200]}"
