"""Live tests of the calls API, the call logs and one-time passwords (see conftest.py).

Most tests work in companies of their own (made on the command line), so that the demo
company stays small and exact totals can be checked. The call-log listing tests need sessions
at chosen times hours apart, so they seed them with `seed_call_session`; real joins and leaves
through the video pages, and redeemed one-time passwords, are tested in test_video_browser.py
and test_signaling_protocol.py.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass

import pytest

from conftest import ApiClient, SeededSession, ServerProcess, Tenant, make_tenant, seed_call_session

CALL_FIELDS = {
    "id", "created_at", "updated_at", "deleted_at", "settings", "parent", "children", "begin", "duration", "room",
    "status", "extid", "description", "extendable", "source", "users",
}
PARTICIPANT_FIELDS = {
    "id", "user_name", "status", "gender", "company_id", "company_name", "ousubsidiary_id", "oulocation_id",
    "department_id", "department_name", "role_id", "role_name", "tan", "tan_valid_until", "log_id", "email",
    "mobile", "consentstatus",
}
LOG_FIELDS = {"id", "call_id", "user_id", "created_at", "updated_at", "deleted_at", "end", "duration", "tan",
              "status_codes"}
TAN_PATTERN = re.compile(r"[A-Za-z0-9]{4}-[A-Za-z0-9]{4}-[A-Za-z0-9]{4}")


# ---------------------------------------------------------------------------------------
# Helpers and fixtures
# ---------------------------------------------------------------------------------------


@dataclass
class Practice:
    """A company with an admin, two doctors, an assistant and a machine client."""

    tenant: Tenant
    doc1: dict
    doc1_token: str
    doc2: dict
    doc2_token: str
    assistant_token: str
    client_token: str

    @property
    def admin_token(self) -> str:
        return self.tenant.token


def make_practice(server: ServerProcess, api: ApiClient, name: str) -> Practice:
    tenant = make_tenant(server, api, name)
    doc1 = api.create_user(tenant.token, role=2, name=unique_doctor("Erika"))
    doc2 = api.create_user(tenant.token, role=2, name=unique_doctor("Hans"))
    assistant = api.create_user(tenant.token, role=3)
    client_id, secret = server.create_client(tenant.company_id, name=f"{name} KIS")
    return Practice(
        tenant=tenant,
        doc1=doc1, doc1_token=api.sign_in(doc1["email"], doc1["_password"]),
        doc2=doc2, doc2_token=api.sign_in(doc2["email"], doc2["_password"]),
        assistant_token=api.sign_in(assistant["email"], assistant["_password"]),
        client_token=api.client_sign_in(client_id, secret),
    )


def unique_doctor(first: str) -> str:
    return f"{first} Ärztin-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def practice(server, api) -> Practice:
    return make_practice(server, api, "Praxis Anruf A")


@pytest.fixture(scope="module")
def rival(server, api) -> Practice:
    return make_practice(server, api, "Praxis Anruf B")


@pytest.fixture
def fresh_practice(server, api) -> Practice:
    """A brand-new company, for tests that count everything a company has."""
    return make_practice(server, api, f"Praxis {uuid.uuid4().hex[:6]}")


def create_call(api: ApiClient, token: str, **fields) -> dict:
    body = {"duration": 15, "call_type": "tan"}
    body.update(fields)
    response = api.post("/api/v2/calls", body, token=token)
    assert response.status_code == 201, f"create call: {response.status_code} {response.text[:500]}"
    return response.json()["data"]


def list_calls(api: ApiClient, token: str, **params) -> dict:
    params.setdefault("per_page", "10000")
    return api.get("/api/v2/calls", token=token, params={k: str(v) for k, v in params.items()}, expect=200).json()


def call_ids(api: ApiClient, token: str, **params) -> list[int]:
    return [call["id"] for call in list_calls(api, token, **params)["data"]]


def list_logs(api: ApiClient, token: str, **params) -> dict:
    params.setdefault("per_page", "10000")
    return api.get("/api/v2/calllogs", token=token, params={k: str(v) for k, v in params.items()},
                   expect=200).json()


def log_ids(api: ApiClient, token: str, **params) -> list[int]:
    return sorted(log["id"] for log in list_logs(api, token, **params)["data"])


def participant(call: dict, user_id: int) -> dict:
    found = [u for u in call["users"] if u["id"] == user_id]
    assert len(found) == 1, f"user {user_id} is not (once) in call {call['id']}: {call['users']}"
    return found[0]


def tan_users(call: dict) -> list[dict]:
    return [u for u in call["users"] if u["role_name"] == "tanuser"]


def scoped_token(api: ApiClient, token: str | None, email: str, call_id, scope_type: str = "call"):
    return api.post("/api/ext/createScopedToken", {"email": email, "scope_type": scope_type, "scope_id": call_id},
                    token=token)


def _without(text: str, *numbers: int) -> str:
    for number in numbers:
        text = text.replace(str(number), "N")
    return text


# ---------------------------------------------------------------------------------------
# Creating and reading calls
# ---------------------------------------------------------------------------------------


def test_create_call_answers_201_with_the_whole_call(api, practice):
    before = int(time.time())
    begin = before + 3600
    call = create_call(
        api, practice.admin_token, duration=30, begin=begin, tan_username="  Paula Patientin ",
        tan_email="Paula.Patientin@Praxis-E2E.Example", tan_mobile="+49 170 1234567", tan_data_agreed=True,
        additional_callees=[{"user_id": practice.doc1["id"]}], description="Erstgespräch", extid="kis-1001",
        extendable=True,
    )
    now = int(time.time())
    assert CALL_FIELDS <= set(call), f"missing: {sorted(CALL_FIELDS - set(call))}"
    assert before - 5 <= call["created_at"] <= now + 5 and call["updated_at"] >= call["created_at"]
    assert call["deleted_at"] is None
    assert (call["begin"], call["duration"], call["status"]) == (begin, 30, 0)
    assert (call["description"], call["extid"], call["extendable"]) == ("Erstgespräch", "kis-1001", True)
    assert re.fullmatch(r"[A-Za-z0-9]{20,}", call["room"]), call["room"]
    assert call["settings"] == {"queue_type": "", "offline": [],
                                "timings": {"lead_time_create": 0, "lead_time_cancel": 0}}

    assert [u["role_name"] for u in call["users"]] == ["tanuser", "callee", "caller"]
    for user in call["users"]:
        assert PARTICIPANT_FIELDS <= set(user), f"missing: {sorted(PARTICIPANT_FIELDS - set(user))}"
    patient, callee, caller = call["users"]
    assert patient["user_name"] == "Paula Patientin", "the name is trimmed"
    assert patient["email"] == "paula.patientin@praxis-e2e.example"
    assert patient["mobile"] == "+49 170 1234567"
    assert patient["role_id"] == 1 and patient["company_id"] is None
    assert patient["consentstatus"]["tan_data_agreed"] is True
    assert TAN_PATTERN.fullmatch(patient["tan"]), patient["tan"]
    assert patient["tan_valid_until"] >= begin + 30 * 60, "the TAN must stay valid at least until the planned end"
    assert patient["log_id"] is None, "nobody has joined yet"
    assert callee["id"] == practice.doc1["id"] and callee["user_name"] == practice.doc1["name"]
    assert callee["email"] == practice.doc1["email"] and callee["company_id"] == practice.tenant.company_id
    assert caller["id"] == practice.tenant.admin_id
    assert callee["tan"] == "" and caller["tan"] == "", "ak users get no TAN"

    shown = api.get(f"/api/v2/calls/{call['id']}", token=practice.admin_token, expect=200).json()["data"]
    assert shown == call


def test_begin_defaults_to_now_and_rooms_and_tans_are_fresh(api, practice):
    before = int(time.time())
    first = create_call(api, practice.admin_token, tan_username="Anna", additional_callees=[{"name": "Bert"}])
    second = create_call(api, practice.admin_token, tan_username="Anna")
    assert before - 5 <= first["begin"] <= int(time.time()) + 5, f"begin {first['begin']} is not now"
    assert first["room"] != second["room"]
    tans = [u["tan"] for u in tan_users(first) + tan_users(second)]
    assert len(tans) == 3 and len(set(tans)) == 3, tans
    assert all(TAN_PATTERN.fullmatch(tan) for tan in tans), tans
    assert [u["role_name"] for u in first["users"]] == ["tanuser", "tanuser", "caller"]


def test_doctor_creates_own_call_as_caller(api, practice):
    call = create_call(api, practice.doc1_token, tan_username="Pat Ient",
                       additional_callees=[{"user_id": practice.doc2["id"]}])
    assert participant(call, practice.doc1["id"])["role_name"] == "caller"
    assert participant(call, practice.doc2["id"])["role_name"] == "callee"
    assert practice.tenant.admin_id not in {u["id"] for u in call["users"]}
    api.get(f"/api/v2/calls/{call['id']}", token=practice.admin_token, expect=200)


def test_creator_named_again_as_callee_is_listed_once(api, practice):
    call = create_call(api, practice.admin_token, additional_callees=[{"user_id": practice.tenant.admin_id},
                                                                      {"user_id": practice.doc1["id"]},
                                                                      {"user_id": practice.doc1["id"]}])
    ids = [u["id"] for u in call["users"]]
    assert sorted(ids) == sorted([practice.tenant.admin_id, practice.doc1["id"]]), call["users"]


@pytest.mark.parametrize("duration", [1, 1440])
def test_duration_limits_are_accepted(api, practice, duration):
    assert create_call(api, practice.admin_token, duration=duration)["duration"] == duration


@pytest.mark.parametrize(
    "body, field",
    [
        ({"call_type": "tan", "tan_username": "Ohne Dauer"}, "duration"),
        ({"duration": 0}, "duration"),
        ({"duration": 1441}, "duration"),
        ({"duration": "15"}, "duration"),
        ({"duration": 15, "call_type": "video"}, "call_type"),
        ({"duration": 15, "tan_username": "Paula", "tan_email": "not-an-address"}, "tan_email"),
        ({"duration": 15, "additional_callees": [{}]}, "additional_callees.0"),
        ({"duration": 15, "additional_callees": [{"email": "nameless@praxis-e2e.example"}]}, "additional_callees.0"),
        ({"duration": 15, "additional_callees": [{"user_id": 987654321}]}, "additional_callees.0.user_id"),
    ],
    ids=["no-duration", "duration-0", "duration-1441", "duration-string", "call-type-video", "bad-tan-email",
         "empty-callee", "callee-without-user-and-name", "unknown-callee"],
)
def test_create_call_validation_is_422(api, practice, body, field):
    total = list_calls(api, practice.admin_token)["meta"]["total"]
    response = api.post("/api/v2/calls", body, token=practice.admin_token)
    assert response.status_code == 422, f"{body}: {response.status_code} {response.text}"
    errors = response.json().get("errors", {})
    assert field in errors, f"{body}: expected errors.{field}, got {errors}"
    assert list_calls(api, practice.admin_token)["meta"]["total"] == total, "a refused call must not be created"


def test_validation_reports_all_errors_at_once(api, practice):
    response = api.post("/api/v2/calls", {"duration": 0, "call_type": "video", "tan_username": "X",
                                          "tan_email": "bad", "additional_callees": [{}]},
                        token=practice.admin_token)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {"duration", "call_type", "tan_email", "additional_callees.0"} <= set(errors), errors


def test_doctor_of_another_company_cannot_be_callee(api, practice, rival):
    total = list_calls(api, practice.admin_token)["meta"]["total"]
    foreign = api.post("/api/v2/calls", {"duration": 15, "additional_callees": [{"user_id": rival.doc1["id"]}]},
                       token=practice.admin_token)
    assert foreign.status_code == 422, foreign.text
    assert "additional_callees.0.user_id" in foreign.json()["errors"], foreign.text
    assert "additional_callees.0.user_id" in foreign.text
    # Nothing about the other company's doctor leaks: the answer reads like one for no user at all.
    assert rival.doc1["name"] not in foreign.text and rival.doc1["email"] not in foreign.text
    missing_id = rival.doc1["id"] + 10_000_000
    missing = api.post("/api/v2/calls", {"duration": 15, "additional_callees": [{"user_id": missing_id}]},
                       token=practice.admin_token)
    assert missing.status_code == 422
    assert _without(foreign.text, rival.doc1["id"]) == _without(missing.text, missing_id)
    assert list_calls(api, practice.admin_token)["meta"]["total"] == total


def test_tan_user_or_locked_doctor_cannot_be_callee(api, practice):
    patient = tan_users(create_call(api, practice.admin_token, tan_username="Paula"))[0]
    response = api.post("/api/v2/calls", {"duration": 15, "additional_callees": [{"user_id": patient["id"]}]},
                        token=practice.admin_token)
    assert response.status_code == 422 and "additional_callees.0.user_id" in response.json()["errors"], response.text

    locked = api.create_user(practice.admin_token, role=2)
    api.patch(f"/api/v2/users/{locked['id']}", {"is_unlocked": False}, token=practice.admin_token, expect=200)
    response = api.post("/api/v2/calls", {"duration": 15, "additional_callees": [{"user_id": locked["id"]}]},
                        token=practice.admin_token)
    assert response.status_code == 422 and "additional_callees.0.user_id" in response.json()["errors"], response.text


def test_unknown_call_is_404(api, practice):
    api.get("/api/v2/calls/987654321", token=practice.admin_token, expect=404)
    api.get("/api/v2/calls/abc", token=practice.admin_token, expect=404)
    api.patch("/api/v2/calls/987654321", {"duration": 20}, token=practice.admin_token, expect=404)
    api.delete("/api/v2/calls/987654321", token=practice.admin_token, expect=404)


def test_calls_api_needs_a_token(api, practice):
    call = create_call(api, practice.admin_token)
    for method, path in (("GET", "/api/v2/calls"), ("POST", "/api/v2/calls"), ("GET", f"/api/v2/calls/{call['id']}"),
                         ("DELETE", f"/api/v2/calls/{call['id']}"), ("GET", "/api/v2/calllogs")):
        kwargs = {"json_body": {"duration": 15}} if method == "POST" else {}
        assert api.request(method, path, **kwargs).status_code == 401, f"{method} {path} without a token"
        assert api.request(method, path, token="y" * 48, **kwargs).status_code == 401
    api.get(f"/api/v2/calls/{call['id']}", token=practice.admin_token, expect=200)


def test_machine_client_cannot_use_the_calls_api(api, practice):
    call = create_call(api, practice.admin_token)
    total = list_calls(api, practice.admin_token)["meta"]["total"]
    token = practice.client_token
    api.get("/api/v2/calls", token=token, expect=403)
    api.get(f"/api/v2/calls/{call['id']}", token=token, expect=403)
    api.post("/api/v2/calls", {"duration": 15}, token=token, expect=403)
    api.patch(f"/api/v2/calls/{call['id']}", {"description": "by client"}, token=token, expect=403)
    api.delete(f"/api/v2/calls/{call['id']}", token=token, expect=403)
    api.get("/api/v2/calllogs", token=token, expect=403)
    still = api.get(f"/api/v2/calls/{call['id']}", token=practice.admin_token, expect=200).json()["data"]
    assert still["description"] is None
    assert list_calls(api, practice.admin_token)["meta"]["total"] == total


# ---------------------------------------------------------------------------------------
# Who sees which call
# ---------------------------------------------------------------------------------------


def test_tenant_isolation_of_calls(api, practice, rival):
    extid = f"iso-{uuid.uuid4().hex[:8]}"
    call = create_call(api, practice.admin_token, tan_username="Paula", description="geheim", extid=extid,
                       additional_callees=[{"user_id": practice.doc1["id"]}])
    missing_id = call["id"] + 10_000_000
    for method, body in (("GET", None), ("PUT", {"description": "Hacked"}), ("PATCH", {"description": "Hacked"}),
                         ("DELETE", None)):
        kwargs = {"json_body": body} if body else {}
        for token in (rival.admin_token, rival.doc1_token, rival.assistant_token):
            foreign = api.request(method, f"/api/v2/calls/{call['id']}", token=token, **kwargs)
            absent = api.request(method, f"/api/v2/calls/{missing_id}", token=token, **kwargs)
            assert foreign.status_code == 404, f"{method} foreign call: {foreign.status_code} {foreign.text}"
            assert absent.status_code == 404
            assert _without(foreign.text, call["id"]) == _without(absent.text, missing_id), (
                f"{method}: a foreign call's 404 differs from a missing one's: {foreign.text!r} vs {absent.text!r}"
            )
    for token in (rival.admin_token, rival.assistant_token, rival.doc1_token):
        assert call["id"] not in call_ids(api, token)
        assert call_ids(api, token, extid=extid) == []
    for listed in list_calls(api, rival.admin_token)["data"]:
        assert all(u["company_id"] in (None, rival.tenant.company_id) for u in listed["users"])

    unchanged = api.get(f"/api/v2/calls/{call['id']}", token=practice.admin_token, expect=200).json()["data"]
    assert unchanged == call

    # And the other way round.
    theirs = create_call(api, rival.admin_token)
    api.get(f"/api/v2/calls/{theirs['id']}", token=practice.admin_token, expect=404)
    assert theirs["id"] not in call_ids(api, practice.admin_token)


def test_doctor_sees_only_calls_they_take_part_in(api, fresh_practice):
    p = fresh_practice
    with_doc1 = create_call(api, p.admin_token, additional_callees=[{"user_id": p.doc1["id"]}])
    with_doc2 = create_call(api, p.admin_token, description="nur Hans",
                            additional_callees=[{"user_id": p.doc2["id"]}])
    by_doc1 = create_call(api, p.doc1_token)
    with_both = create_call(api, p.admin_token, additional_callees=[{"user_id": p.doc1["id"]},
                                                                    {"user_id": p.doc2["id"]}])

    doc1_view = list_calls(api, p.doc1_token)
    assert [c["id"] for c in doc1_view["data"]] == [with_both["id"], by_doc1["id"], with_doc1["id"]]
    assert doc1_view["meta"]["total"] == 3
    assert call_ids(api, p.doc2_token) == [with_both["id"], with_doc2["id"]]
    everything = [with_both["id"], by_doc1["id"], with_doc2["id"], with_doc1["id"]]
    assert call_ids(api, p.admin_token) == everything
    assert call_ids(api, p.assistant_token) == everything, "an assistant sees every call of the company"

    api.get(f"/api/v2/calls/{with_doc1['id']}", token=p.doc1_token, expect=200)
    api.get(f"/api/v2/calls/{with_doc2['id']}", token=p.doc1_token, expect=404)
    api.patch(f"/api/v2/calls/{with_doc2['id']}", {"description": "von Erika"}, token=p.doc1_token, expect=404)
    api.delete(f"/api/v2/calls/{with_doc2['id']}", token=p.doc1_token, expect=404)
    still = api.get(f"/api/v2/calls/{with_doc2['id']}", token=p.admin_token, expect=200).json()["data"]
    assert still["description"] == "nur Hans"


def test_list_is_newest_first_paginated_and_filtered(api, server, fresh_practice):
    p = fresh_practice
    now = int(time.time())
    # Begins deliberately out of creation order: the list goes by creation, newest first.
    first = create_call(api, p.admin_token, begin=now + 3 * 3600, extid="alpha")
    second = create_call(api, p.admin_token, begin=now + 1 * 3600, extid="beta")
    third = create_call(api, p.admin_token, begin=now + 2 * 3600, extid="alpha")
    ids = [third["id"], second["id"], first["id"]]

    listed = list_calls(api, p.admin_token)
    assert [c["id"] for c in listed["data"]] == ids
    assert listed["meta"]["total"] == 3

    page1 = list_calls(api, p.admin_token, per_page=2)
    assert [c["id"] for c in page1["data"]] == ids[:2]
    assert page1["meta"]["last_page"] == 2 and page1["links"]["next"]
    page2 = api.get(page1["links"]["next"], token=p.admin_token, expect=200).json()
    assert [c["id"] for c in page2["data"]] == ids[2:] and page2["links"]["next"] is None
    default = api.get("/api/v2/calls", token=p.admin_token, params={"page": "1"}, expect=200).json()
    assert default["meta"]["per_page"] == 15 and [c["id"] for c in default["data"]] == ids

    assert call_ids(api, p.admin_token, extid="alpha") == [third["id"], first["id"]]
    assert call_ids(api, p.admin_token, extid="gamma") == []
    assert call_ids(api, p.admin_token, **{"from": second["begin"] + 1}) == [third["id"], first["id"]]
    assert call_ids(api, p.admin_token, to=third["begin"]) == [third["id"], second["id"]]
    assert call_ids(api, p.admin_token, **{"from": third["begin"], "to": third["begin"]}) == [third["id"]]

    assert call_ids(api, p.admin_token, status=0) == ids
    seed_call_session(server, second["id"], [SeededSession(p.tenant.admin_id, now - 60, now - 30)])
    assert call_ids(api, p.admin_token, status=1) == [second["id"]]
    assert call_ids(api, p.admin_token, status=0) == [third["id"], first["id"]]
    assert call_ids(api, p.admin_token, status=2) == []
    assert call_ids(api, p.admin_token, status=1, extid="alpha") == []

    for params in ({"status": "7"}, {"status": "planned"}, {"from": "yesterday"}, {"to": "1.5"},
                   {"per_page": "10001"}):
        response = api.get("/api/v2/calls", token=p.admin_token, params=params)
        assert response.status_code == 422, f"{params}: {response.status_code} {response.text}"


# ---------------------------------------------------------------------------------------
# Changing and deleting calls
# ---------------------------------------------------------------------------------------


def test_put_and_patch_change_a_call(api, practice):
    now = int(time.time())
    call = create_call(api, practice.admin_token, begin=now + 3600, duration=15, tan_username="Paula",
                       description="alt", extid="kis-1", additional_callees=[{"user_id": practice.doc1["id"]}])
    patient = tan_users(call)[0]
    call_id = call["id"]

    put = api.put(f"/api/v2/calls/{call_id}", {"begin": now + 7200, "duration": 30, "description": "neu",
                                               "extid": "kis-2"}, token=practice.admin_token, expect=200).json()["data"]
    assert (put["begin"], put["duration"], put["description"], put["extid"]) == (now + 7200, 30, "neu", "kis-2")
    assert put["updated_at"] >= call["updated_at"] and put["created_at"] == call["created_at"]
    assert [u["id"] for u in put["users"]] == [u["id"] for u in call["users"]], "participants stay"
    moved = tan_users(put)[0]
    assert moved["tan"] == patient["tan"], "rescheduling keeps the TAN the patient already has"
    assert moved["tan_valid_until"] - patient["tan_valid_until"] == 3600 + 15 * 60, (
        "tan_valid_until must follow the new planned end (begin + duration)"
    )
    assert moved["tan_valid_until"] >= now + 7200 + 30 * 60

    patched = api.patch(f"/api/v2/calls/{call_id}", {"description": "nur das"}, token=practice.admin_token,
                        expect=200).json()["data"]
    assert patched["description"] == "nur das"
    assert (patched["begin"], patched["duration"], patched["extid"]) == (now + 7200, 30, "kis-2")

    cleared = api.patch(f"/api/v2/calls/{call_id}", {"extid": None}, token=practice.admin_token,
                        expect=200).json()["data"]
    assert cleared["extid"] is None and cleared["description"] == "nur das"

    earlier = api.patch(f"/api/v2/calls/{call_id}", {"begin": now + 1800}, token=practice.admin_token,
                        expect=200).json()["data"]
    assert earlier["begin"] == now + 1800
    assert tan_users(earlier)[0]["tan_valid_until"] - moved["tan_valid_until"] == -5400

    for body in ({"duration": 0}, {"duration": 1441}, {"duration": "lang"}):
        response = api.patch(f"/api/v2/calls/{call_id}", body, token=practice.admin_token)
        assert response.status_code == 422 and "duration" in response.json()["errors"], f"{body}: {response.text}"
    shown = api.get(f"/api/v2/calls/{call_id}", token=practice.admin_token, expect=200).json()["data"]
    assert shown == earlier, "refused changes must change nothing"


def test_doctor_may_change_own_call(api, practice):
    call = create_call(api, practice.admin_token, additional_callees=[{"user_id": practice.doc1["id"]}])
    changed = api.patch(f"/api/v2/calls/{call['id']}", {"description": "verschoben"}, token=practice.doc1_token,
                        expect=200).json()["data"]
    assert changed["description"] == "verschoben"


def test_delete_call(api, practice):
    call = create_call(api, practice.admin_token, tan_username="Paula",
                       additional_callees=[{"user_id": practice.doc1["id"]}])
    call_id = call["id"]
    deleted = api.delete(f"/api/v2/calls/{call_id}", token=practice.admin_token)
    assert deleted.status_code == 204 and deleted.content == b"", deleted.text
    api.get(f"/api/v2/calls/{call_id}", token=practice.admin_token, expect=404)
    api.get(f"/api/v2/calls/{call_id}", token=practice.doc1_token, expect=404)
    api.put(f"/api/v2/calls/{call_id}", {"description": "zu spät"}, token=practice.admin_token, expect=404)
    api.patch(f"/api/v2/calls/{call_id}", {"description": "zu spät"}, token=practice.admin_token, expect=404)
    api.delete(f"/api/v2/calls/{call_id}", token=practice.admin_token, expect=404)
    assert call_id not in call_ids(api, practice.admin_token)
    assert call_id not in call_ids(api, practice.doc1_token)
    # Deleting ends the call's one-time passwords: none can be issued for it any more.
    response = scoped_token(api, practice.client_token, practice.doc1["email"], call_id)
    assert response.status_code == 422, response.text


def test_deleting_a_held_call_is_409(api, server, practice):
    call = create_call(api, practice.admin_token, tan_username="Paula",
                       additional_callees=[{"user_id": practice.doc1["id"]}])
    patient = tan_users(call)[0]
    now = int(time.time())
    seed_call_session(server, call["id"], [SeededSession(patient["id"], now - 300, now - 200, tan=patient["tan"]),
                                           SeededSession(practice.doc1["id"], now - 290, now - 210)])
    response = api.delete(f"/api/v2/calls/{call['id']}", token=practice.admin_token)
    assert response.status_code == 409, f"{response.status_code} {response.text}"
    assert response.json()["message"]
    still = api.get(f"/api/v2/calls/{call['id']}", token=practice.admin_token, expect=200).json()["data"]
    # Held: running, or already ended (the room has been empty longer than the 30 s grace period).
    assert still["deleted_at"] is None and still["status"] in (1, 2)
    assert call["id"] in call_ids(api, practice.admin_token)


# ---------------------------------------------------------------------------------------
# One-time passwords (createScopedToken)
# ---------------------------------------------------------------------------------------


def test_create_scoped_token(api, practice):
    call = create_call(api, practice.admin_token, tan_username="Paula",
                       additional_callees=[{"user_id": practice.doc1["id"]}])
    asked = time.time()
    response = scoped_token(api, practice.client_token, practice.doc1["email"], call["id"])
    assert response.status_code in (200, 201), response.text
    body = response.json()
    assert set(body) >= {"token", "valid_until"}
    otp = body["token"]
    assert re.fullmatch(r"[A-Za-z0-9]{32,}", otp), f"one-time passwords are letters and digits: {otp!r}"
    encoded = base64.b64encode(otp.encode()).decode()
    assert "+" not in encoded and "/" not in encoded
    assert asked + 55 <= body["valid_until"] <= asked + 65, body

    again = scoped_token(api, practice.client_token, practice.doc1["email"].upper(), call["id"])
    assert again.status_code in (200, 201), f"e-mail addresses compare case-insensitively: {again.text}"
    assert again.json()["token"] != otp
    # The caller is a participant too.
    caller = scoped_token(api, practice.client_token, practice.tenant.admin_email, call["id"])
    assert caller.status_code in (200, 201), caller.text


def test_create_scoped_token_needs_a_machine_client(api, practice):
    call = create_call(api, practice.admin_token, additional_callees=[{"user_id": practice.doc1["id"]}])
    for token in (practice.admin_token, practice.doc1_token, practice.assistant_token):
        response = scoped_token(api, token, practice.doc1["email"], call["id"])
        assert response.status_code == 403, response.text
        assert "token" not in response.json()
    assert scoped_token(api, None, practice.doc1["email"], call["id"]).status_code == 401


def test_create_scoped_token_refusals_are_422(api, practice, rival):
    call = create_call(api, practice.admin_token, tan_username="Paula", tan_email="paula@praxis-e2e.example",
                       additional_callees=[{"user_id": practice.doc1["id"]}])
    theirs = create_call(api, rival.admin_token, additional_callees=[{"user_id": rival.doc1["id"]}])
    client = practice.client_token
    cases = [
        ("non-participant doctor", practice.doc2["email"], call["id"], "call"),
        ("unknown e-mail", f"nobody-{uuid.uuid4().hex[:6]}@praxis-e2e.example", call["id"], "call"),
        ("the TAN user's e-mail", "paula@praxis-e2e.example", call["id"], "call"),
        ("doctor of another company", rival.doc1["email"], call["id"], "call"),
        ("another company's call", rival.doc1["email"], theirs["id"], "call"),
        ("another company's call, own doctor", practice.doc1["email"], theirs["id"], "call"),
        ("unknown call", practice.doc1["email"], 987654321, "call"),
    ]
    for label, email, call_id, scope_type in cases:
        response = scoped_token(api, client, email, call_id, scope_type)
        assert response.status_code == 422, f"{label}: {response.status_code} {response.text}"
        assert response.json().get("errors"), f"{label}: 422 must name the field"
        assert "token" not in response.json()

    wrong_scope = scoped_token(api, client, practice.doc1["email"], call["id"], "user")
    assert wrong_scope.status_code == 422 and "scope_type" in wrong_scope.json()["errors"], wrong_scope.text

    empty = api.post("/api/ext/createScopedToken", {}, token=client)
    assert empty.status_code == 422, empty.text
    assert {"email", "scope_type", "scope_id"} <= set(empty.json()["errors"]), empty.text

    # Another company's call is answered like a call that does not exist.
    foreign = scoped_token(api, client, practice.doc1["email"], theirs["id"])
    missing = scoped_token(api, client, practice.doc1["email"], theirs["id"] + 10_000_000)
    assert _without(foreign.text, theirs["id"]) == _without(missing.text, theirs["id"] + 10_000_000)

    # The other company's client cannot issue one for this company's call either.
    response = scoped_token(api, rival.client_token, practice.doc1["email"], call["id"])
    assert response.status_code == 422, response.text


# ---------------------------------------------------------------------------------------
# Call logs
# ---------------------------------------------------------------------------------------


def test_call_logs_fields_scoping_and_filters(api, server, fresh_practice, rival):
    p = fresh_practice
    now = int(time.time())
    call_x = create_call(api, p.admin_token, tan_username="Paula", additional_callees=[{"user_id": p.doc1["id"]}])
    call_y = create_call(api, p.admin_token, additional_callees=[{"user_id": p.doc2["id"]}])
    patient = tan_users(call_x)[0]
    t0, t1 = now - 3600, now - 1800
    x_sessions = [
        SeededSession(patient["id"], t0, t0 + 81, tan=patient["tan"]),
        SeededSession(p.doc1["id"], t0 + 5, t0 + 69),
        SeededSession(p.doc1["id"], t0 + 100, t0 + 160),  # a re-join is a new entry
        SeededSession(p.tenant.admin_id, t0 + 10, None),  # still in the call
    ]
    x_logs = seed_call_session(server, call_x["id"], x_sessions)
    y_logs = seed_call_session(server, call_y["id"], [SeededSession(p.doc2["id"], t1, t1 + 30)])

    listed = list_logs(api, p.admin_token)
    assert sorted(log["id"] for log in listed["data"]) == sorted(x_logs + y_logs)
    assert listed["meta"]["total"] == 5 and listed["meta"]["per_page"] == 10000
    by_id = {log["id"]: log for log in listed["data"]}
    checked_at = int(time.time())
    for log_id, session in zip(x_logs, x_sessions):
        log = by_id[log_id]
        assert LOG_FIELDS <= set(log), f"missing: {sorted(LOG_FIELDS - set(log))}"
        assert (log["call_id"], log["user_id"], log["created_at"]) == (call_x["id"], session.user_id, session.joined)
        assert log["deleted_at"] is None
        assert log["updated_at"] >= log["created_at"]
        if session.left is not None:
            assert log["end"] == session.left
            assert log["duration"] == session.left - session.joined
        else:
            assert log["end"] is None, "an open session has no end yet"
            assert now - session.joined - 5 <= log["duration"] <= checked_at - session.joined + 5
    assert by_id[x_logs[0]]["tan"] == patient["tan"]

    # A participant's log_id points at their latest session; nobody who never joined has one.
    x = api.get(f"/api/v2/calls/{call_x['id']}", token=p.admin_token, expect=200).json()["data"]
    assert x["status"] == 1
    assert participant(x, p.doc1["id"])["log_id"] == x_logs[2]
    assert participant(x, patient["id"])["log_id"] == x_logs[0]
    y = api.get(f"/api/v2/calls/{call_y['id']}", token=p.admin_token, expect=200).json()["data"]
    assert participant(y, p.tenant.admin_id)["log_id"] is None

    # Who sees what.
    assert log_ids(api, p.assistant_token) == sorted(x_logs + y_logs)
    assert log_ids(api, p.doc1_token) == sorted(x_logs), "a doctor sees the logs of own calls only"
    assert log_ids(api, p.doc2_token) == sorted(y_logs)
    assert log_ids(api, p.doc2_token, call_id=call_x["id"]) == []
    for token in (rival.admin_token, rival.assistant_token, rival.doc1_token):
        seen = list_logs(api, token)
        assert not set(x_logs + y_logs) & {log["id"] for log in seen["data"]}, "another company's logs leaked"
        assert log_ids(api, token, call_id=call_x["id"]) == []

    # Filters.
    assert log_ids(api, p.admin_token, call_id=call_x["id"]) == sorted(x_logs)
    assert log_ids(api, p.admin_token, call_id=call_y["id"]) == sorted(y_logs)
    assert log_ids(api, p.admin_token, user_id=p.doc1["id"]) == sorted(x_logs[1:3])
    assert log_ids(api, p.admin_token, user_id=p.doc1["id"], call_id=call_y["id"]) == []
    assert log_ids(api, p.admin_token, **{"from": t0 + 10}) == sorted(x_logs[2:] + y_logs)
    assert log_ids(api, p.admin_token, to=t0 + 5) == sorted(x_logs[:2])
    assert log_ids(api, p.admin_token, **{"from": t0 + 5, "to": t0 + 10}) == sorted([x_logs[1], x_logs[3]])

    small = list_logs(api, p.admin_token, per_page=2)
    assert len(small["data"]) == 2 and small["meta"]["total"] == 5 and small["meta"]["last_page"] == 3


@pytest.mark.parametrize(
    "params",
    [{"per_page": "10001"}, {"per_page": "0"}, {"call_id": "abc"}, {"user_id": "x1"}, {"from": "gestern"},
     {"to": "1.5"}],
)
def test_call_log_bad_arguments_are_422(api, practice, params):
    response = api.get("/api/v2/calllogs", token=practice.admin_token, params=params)
    assert response.status_code == 422, f"{params}: {response.status_code} {response.text}"


def test_call_logs_per_page_10000_is_allowed(api, practice):
    body = api.get("/api/v2/calllogs", token=practice.admin_token, params={"per_page": "10000"}, expect=200).json()
    assert body["meta"]["per_page"] == 10000
    assert isinstance(body["data"], list) and body["links"]["next"] is None


def test_a_held_call_ends_once_its_room_stayed_empty(api, server, practice):
    """Status 2 comes from the server's idle check: running, held (an ak user of the call was in
    it), nobody in the room for the grace period. A patient alone does not end it."""
    empty = create_call(api, practice.admin_token, tan_username="Emil")
    occupied = create_call(api, practice.admin_token, tan_username="Olga")
    alone = create_call(api, practice.admin_token, tan_username="Anna")
    now = int(time.time())
    seed_call_session(server, empty["id"], [SeededSession(tan_users(empty)[0]["id"], now - 120, now - 60),
                                            SeededSession(practice.tenant.admin_id, now - 110, now - 61)])
    seed_call_session(server, occupied["id"], [SeededSession(tan_users(occupied)[0]["id"], now - 120)])
    seed_call_session(server, alone["id"], [SeededSession(tan_users(alone)[0]["id"], now - 120, now - 60)])
    deadline = time.time() + 20
    status = None
    while time.time() < deadline:
        status = api.get(f"/api/v2/calls/{empty['id']}", token=practice.admin_token, expect=200).json()["data"]["status"]
        if status == 2:
            break
        time.sleep(0.5)
    assert status == 2, "a running call whose room stayed empty past the grace period has ended"
    still = api.get(f"/api/v2/calls/{occupied['id']}", token=practice.admin_token, expect=200).json()["data"]
    assert still["status"] == 1, "somebody is still in the room: the call keeps running"
    waited = api.get(f"/api/v2/calls/{alone['id']}", token=practice.admin_token, expect=200).json()["data"]
    assert waited["status"] == 1, "a patient alone before the planned end does not end the call"
    # Ended is final: it can no longer be changed or deleted.
    assert api.patch(f"/api/v2/calls/{empty['id']}", {"duration": 20}, token=practice.admin_token).status_code == 409
    assert api.delete(f"/api/v2/calls/{empty['id']}", token=practice.admin_token).status_code == 409


@pytest.mark.parametrize("begin", [9223372036854775807, 9223372036854775000, -9223372036854775808])
def test_an_absurd_begin_is_422_and_the_server_lives_on(api, practice, begin):
    response = api.post("/api/v2/calls", {"duration": 30, "begin": begin}, token=practice.admin_token)
    assert response.status_code == 422, f"{response.status_code} {response.text[:300]}"
    assert "begin" in response.json()["errors"]
    assert api.get("/healthz").status_code == 200
