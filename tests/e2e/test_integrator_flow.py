"""The server as an existing ak integration sees it.

Written the way integrators write their scripts: credentials from a config.ini read with
configparser, a hostname, REQUESTS_CA_BUNDLE pointing at the server's certificate, and a
tiny `fetch` helper around requests that raises on any HTTP error. Nothing here knows about
the test fixtures except where config.ini lives.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

NOTIFICATION_IDS = [1001, 1002, 2001, 2002, 2003, 3001, 3002, 3003, 3004, 4001]


class Integration:
    """What an integrator's script holds: a hostname and a fetch helper."""

    def __init__(self, hostname: str):
        self.hostname = hostname

    def fetch(self, method, path, data=None, token=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        reply = requests.request(method, f"https://{self.hostname}{path}", json=data, headers=headers, timeout=60)
        if reply.status_code >= 400:
            raise RuntimeError(f"HTTP {reply.status_code} for {method} {path}: {reply.text}")
        return reply.json()


@pytest.fixture
def integration(config, trust_demo_certificate) -> Integration:
    # The only two things an integrator changes: the hostname and the trusted certificate.
    return Integration(config["server"]["hostname"])


def test_config_ini_has_what_integrators_read(config):
    assert config["server"]["hostname"], "hostname is empty"
    assert config["server"]["base_url"] == "https://" + config["server"]["hostname"]
    for section, key in [
        ("credentials", "email"),
        ("credentials", "password"),
        ("client_credentials", "client_id"),
        ("client_credentials", "client_password"),
    ]:
        assert config[section][key].strip(), f"[{section}] {key} is empty"


def test_create_doctor_with_notifications_and_find_in_list(integration, config):
    fetch = integration.fetch

    signed_in = fetch("POST", "/api/v2/auth", {"email": config["credentials"]["email"],
                                               "password": config["credentials"]["password"]})
    token = signed_in["access_token"]
    assert signed_in["token_type"] == "bearer"
    assert signed_in["expires_in"] > 0

    companies = fetch("GET", "/api/v2/companies", token=token)
    company_id = companies["data"][0]["id"]
    assert isinstance(company_id, int) and company_id > 0

    # E-mail notifications for appointments on, SMS and document notifications off.
    wanted = {1001: True, 1002: False, 2001: True, 2002: True, 2003: True,
              3001: False, 3002: False, 3003: False, 3004: False, 4001: False}
    email = f"dr-hanna-{uuid.uuid4().hex[:8]}@praxis-e2e.example"
    before = int(time.time())
    created = fetch("POST", "/api/v2/users", {
        "name": "Hanna Maria Beispiel",
        "email": email,
        "password": email,  # integrators do use the address as the initial password
        "company_id": company_id,
        "roles": [2],
        "notification_options": [{"notification_id": nid, "enabled": on} for nid, on in wanted.items()],
    }, token=token)
    doctor = created["data"]

    assert isinstance(doctor["id"], int) and doctor["id"] > 0
    assert doctor["name"] == "Hanna Maria Beispiel"
    assert doctor["firstname"] == "Hanna"
    assert doctor["lastname"] == "Maria Beispiel"
    assert doctor["email"] == email
    assert doctor["company_id"] == company_id
    assert doctor["company_name"] == companies["data"][0]["name"]
    assert doctor["roles"] == [{"id": 2, "name": "doc"}]
    assert doctor["deleted_at"] is None
    assert before - 5 <= doctor["created_at"] <= int(time.time()) + 5
    assert "password" not in doctor

    options = {entry["notification_id"]: entry for entry in doctor["notification_options"]}
    assert sorted(options) == NOTIFICATION_IDS
    assert {nid: options[nid]["enabled"] for nid in NOTIFICATION_IDS} == wanted
    assert len(doctor["notification_options"]) == 10, "each notification id must appear once"

    listed = fetch("GET", "/api/v2/users?per_page=100", token=token)
    assert listed["meta"]["per_page"] == 100
    rows = [row for row in listed["data"] if row["id"] == doctor["id"]]
    assert len(rows) == 1, (
        f"doctor {doctor['id']} not in the first 100 users (total {listed['meta']['total']}; if the demo "
        "company grew past 100 users, the session's other tests create too many users there)"
    )
    row = rows[0]
    assert row["name"] == "Hanna Maria Beispiel"
    assert row["roles"][0]["name"] == "doc"
    assert row["company_id"] == company_id
    for key in ("title", "company_name", "ousubsidiary_name", "oulocation_name", "department_name"):
        assert key in row, f"list rows lack {key!r}, which the notebook prints"

    # And the new doctor can sign in with what the integrator set.
    assert fetch("POST", "/api/v2/auth", {"email": email, "password": email})["access_token"]


def test_fetch_raises_on_wrong_password(integration, config):
    with pytest.raises(RuntimeError, match="HTTP 401"):
        integration.fetch("POST", "/api/v2/auth", {"email": config["credentials"]["email"],
                                                   "password": "definitely-not-it"})


def test_client_api_sign_in(integration, config):
    answer = integration.fetch("POST", "/api/v2/client", {
        "client_id": config["client_credentials"]["client_id"],
        "pw": config["client_credentials"]["client_password"],
    })
    assert isinstance(answer["access_token"], str) and len(answer["access_token"]) >= 32
    assert answer["token"] == answer["access_token"], "access_token and token must be the same value"
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] > 0
    now = time.time()
    assert now < answer["valid_until"] <= now + answer["expires_in"] + 5


def test_client_api_wrong_secret_is_401(integration, config):
    with pytest.raises(RuntimeError, match="HTTP 401"):
        integration.fetch("POST", "/api/v2/client", {
            "client_id": config["client_credentials"]["client_id"],
            "pw": "not-the-client-secret",
        })
