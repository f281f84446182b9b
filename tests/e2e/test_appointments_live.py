"""Appointments against the real binary over real HTTPS: consultation hours, free time slots in
the practice's time zone (daylight saving), reserving, moving and cancelling with lead times,
no double booking under concurrent clients, who may do what, bad input, and the e-mails/SMS
that reserve/move/cancel send over real transports.

The server's real clock is used: hours are published on dates relative to today, except for the
daylight-saving nights of 2027, which are computed from the tz database with `zoneinfo`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests

from conftest import ApiClient, ServerProcess, Tenant, check_response_invariants, make_tenant, unique_email
from test_calls_live import make_practice
# The real SMTP server and SMS gateway fixtures (`smtp`, `sms`) and the notification helpers.
from test_notifications_live import delivery_options, notifications, sms, smtp, subscribe, tan_of, wait_until  # noqa: F401

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def at(day: date, hhmm: str, zone: ZoneInfo = BERLIN, fold: int = 0) -> int:
    """Unix time of a wall-clock time in `zone` (fold=1: the second of a repeated time)."""
    hour, minute = map(int, hhmm.split(":"))
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=fold).timestamp())


def day_range(day: date, zone: ZoneInfo = BERLIN) -> tuple[int, int]:
    """The local day as `from`/`to` Unix times (23, 24 or 25 hours long)."""
    return at(day, "00:00", zone), at(day + timedelta(days=1), "00:00", zone)


def local_iso(instant: int, zone: ZoneInfo = BERLIN) -> str:
    return datetime.fromtimestamp(instant, zone).isoformat()


def today(zone: ZoneInfo = BERLIN) -> date:
    return datetime.now(zone).date()


def next_weekday(start: date, weekday: int) -> date:
    """The first date on or after `start` with ISO weekday `weekday`."""
    return start + timedelta(days=(weekday - start.isoweekday()) % 7)


def set_settings(api: ApiClient, token: str, time_zone: str = "Europe/Berlin", create: int = 0,
                 cancel: int = 0) -> dict:
    wanted = {"time_zone": time_zone, "timings": {"lead_time_create": create, "lead_time_cancel": cancel}}
    stored = api.put("/api/v2/appointmentsettings", wanted, token=token, expect=200).json()["data"]
    assert stored == wanted
    return stored


def add_hours(api: ApiClient, token: str, doctor_id: int | None, **entry) -> dict:
    body = {"kind": "available", **entry}
    if doctor_id is not None:
        body["user_id"] = doctor_id
    created = api.post("/api/v2/availabilities", body, token=token, expect=201).json()["data"]
    for key, value in body.items():
        assert created[key] == value, (key, created)
    return created


def free_slots(api: ApiClient, token: str, doctor_id: int, start: int, end: int,
               time_zone: str = "Europe/Berlin") -> list[dict]:
    params = {"user_id": str(doctor_id), "from": str(start), "to": str(end)}
    body = api.get("/api/v2/timeslots", token=token, params=params, expect=200).json()
    assert body["meta"] == {"time_zone": time_zone, "total": len(body["data"]), "next_from": None}
    zone = ZoneInfo(time_zone)
    begins = [slot["begin"] for slot in body["data"]]
    assert begins == sorted(begins), "slots are ordered by begin"
    for slot in body["data"]:
        assert slot["user_id"] == doctor_id
        assert start <= slot["begin"] < end
        assert slot["end"] - slot["begin"] == slot["duration"] * 60
        assert slot["local_begin"] == local_iso(slot["begin"], zone), slot
        assert slot["local_end"] == local_iso(slot["end"], zone), slot
    return body["data"]


def patient(**more) -> dict:
    return {"tan_username": "Paula Patientin", "tan_email": unique_email("patient"), **more}


def reserve(api: ApiClient, token: str, doctor_id: int | None, begin, expect: int | None = 201,
            **more) -> requests.Response:
    body = {"begin": begin, **patient(), **more}
    if doctor_id is not None:
        body["user_id"] = doctor_id
    return api.post("/api/v2/appointments", body, token=token, expect=expect)


def participant(call: dict, role_name: str) -> dict:
    found = [user for user in call["users"] if user["role_name"] == role_name]
    assert len(found) == 1, (role_name, call["users"])
    return found[0]


def field_error(response: requests.Response, field: str) -> str:
    """The 422's messages for `field` (also accepted nested, e.g. `timings.lead_time_create`)."""
    assert response.status_code == 422, f"expected 422 naming {field}, got {response.status_code}: {response.text}"
    errors = response.json().get("errors", {})
    names = [name for name in errors if name == field or name.endswith("." + field)]
    assert names, f"the 422 does not name {field!r}: {response.text}"
    return " ".join(message for name in names for message in errors[name])


@dataclass
class Office:
    """A company of its own (own settings) with one doctor."""

    tenant: Tenant
    doctor: dict
    doctor_token: str

    @property
    def admin(self) -> str:
        return self.tenant.token


def make_office(server: ServerProcess, api: ApiClient, name: str | None = None) -> Office:
    tenant = make_tenant(server, api, name or f"Praxis Termine {uuid.uuid4().hex[:6]}")
    doctor = api.create_user(tenant.token, role=2, company_id=tenant.company_id)
    return Office(tenant, doctor, api.sign_in(doctor["email"], doctor["_password"]))


# ---------------------------------------------------------------------------------------
# 1. The integrator's flow
# ---------------------------------------------------------------------------------------


def test_integrator_publishes_hours_lists_reserves_moves_and_cancels(server, api):
    office = make_office(server, api, "Praxis Integrator")
    admin, doctor_id = office.admin, office.doctor["id"]
    # The defaults before anything is set, then the practice's own rules.
    assert api.get("/api/v2/appointmentsettings", token=admin, expect=200).json()["data"] == {
        "time_zone": "Europe/Berlin", "timings": {"lead_time_create": 0, "lead_time_cancel": 0}}
    set_settings(api, admin, "Europe/Berlin", create=60, cancel=120)
    assert api.get("/api/v2/appointmentsettings", token=office.doctor_token, expect=200).json()["data"][
        "timings"] == {"lead_time_create": 60, "lead_time_cancel": 120}

    # Two weeks of hours, at least two weeks ahead: Tuesdays 14:00-17:00 in 15-minute slots,
    # one Thursday 09:00-10:00 in 20-minute slots, and the first Tuesday 15:00-16:00 blocked.
    monday = next_weekday(today() + timedelta(days=14), 1)
    tuesday1, thursday, tuesday2 = monday + timedelta(days=1), monday + timedelta(days=3), monday + timedelta(days=8)
    weekly = add_hours(api, admin, doctor_id, weekday=2, start="14:00", end="17:00", slot_length=15,
                       valid_from=monday.isoformat(), valid_until=(monday + timedelta(days=13)).isoformat())
    single = add_hours(api, admin, doctor_id, date=thursday.isoformat(), start="09:00", end="10:00", slot_length=20)
    blocked = add_hours(api, admin, doctor_id, kind="unavailable", date=tuesday1.isoformat(), start="15:00",
                        end="16:00")
    assert blocked["slot_length"] is None
    listed = api.get("/api/v2/availabilities", token=admin, params={"user_id": str(doctor_id)}, expect=200).json()
    assert [entry["id"] for entry in listed["data"]] == [weekly["id"], single["id"], blocked["id"]]
    assert api.get(f"/api/v2/availabilities/{single['id']}", token=office.doctor_token,
                   expect=200).json()["data"] == single

    # A range from the week before to the week after: valid_from/valid_until hold.
    window = (at(monday - timedelta(days=7), "00:00"), at(monday + timedelta(days=21), "00:00"))

    def expected(day: date, first: str, last: str, step: int, skip=()) -> list[str]:
        times, t = [], at(day, first)
        while t <= at(day, last):
            if local_iso(t)[11:16] not in skip:
                times.append(local_iso(t))
            t += step * 60
        return times

    tuesday1_slots = expected(tuesday1, "14:00", "16:45", 15, skip={"15:00", "15:15", "15:30", "15:45"})
    all_slots = tuesday1_slots + expected(thursday, "09:00", "09:40", 20) + expected(tuesday2, "14:00", "16:45", 15)
    slots = free_slots(api, admin, doctor_id, *window)
    assert [slot["local_begin"] for slot in slots] == all_slots
    assert len(slots) == 8 + 3 + 12
    assert slots[0]["local_begin"][:19] == f"{tuesday1.isoformat()}T14:00:00"
    assert {slot["duration"] for slot in slots if slot["local_begin"].startswith(thursday.isoformat())} == {20}
    assert {slot["duration"] for slot in slots if not slot["local_begin"].startswith(thursday.isoformat())} == {15}
    # The doctor and the assistant see the same free list.
    assert free_slots(api, office.doctor_token, doctor_id, *window) == slots

    # Reserve Tuesday 14:15.
    begin = at(tuesday1, "14:15")
    call = reserve(api, admin, doctor_id, begin, tan_username="Anna Appointment").json()["data"]
    assert call["begin"] == begin and call["duration"] == 15 and call["status"] == 0
    assert call["settings"]["timings"] == {"lead_time_create": 60, "lead_time_cancel": 120}
    assert participant(call, "caller")["id"] == doctor_id
    tan_user = participant(call, "tanuser")
    assert tan_user["user_name"] == "Anna Appointment" and tan_user["tan"]
    assert api.get(f"/api/v2/appointments/{call['id']}", token=admin, expect=200).json()["data"]["id"] == call["id"]
    doctors_calls = api.get("/api/v2/calls", token=office.doctor_token, params={"per_page": "100"},
                            expect=200).json()["data"]
    assert [c["id"] for c in doctors_calls] == [call["id"]]
    after = free_slots(api, admin, doctor_id, *window)
    assert [s["begin"] for s in after] == [s["begin"] for s in slots if s["begin"] != begin]
    # The same slot again: 409.
    taken = reserve(api, admin, doctor_id, begin, expect=409)
    assert "no longer free" in taken.json()["message"]

    # Move it to Thursday 09:20: it takes that slot's length.
    new_begin = at(thursday, "09:20")
    moved = api.patch(f"/api/v2/appointments/{call['id']}", {"begin": new_begin}, token=admin,
                      expect=200).json()["data"]
    assert (moved["id"], moved["begin"], moved["duration"]) == (call["id"], new_begin, 20)
    assert participant(moved, "tanuser")["tan"] == tan_user["tan"]
    # The TAN stays valid for as long after the new end as it was after the old one.
    old_end, new_end = begin + 15 * 60, new_begin + 20 * 60
    assert participant(moved, "tanuser")["tan_valid_until"] - tan_user["tan_valid_until"] == new_end - old_end
    after = free_slots(api, admin, doctor_id, *window)
    assert [s["begin"] for s in after] == [s["begin"] for s in slots if s["begin"] != new_begin]

    # Cancel: the slot is free again, the appointment is gone.
    api.delete(f"/api/v2/appointments/{call['id']}", token=admin, expect=204)
    api.get(f"/api/v2/appointments/{call['id']}", token=admin, expect=404)
    assert free_slots(api, admin, doctor_id, *window) == slots
    assert reserve(api, admin, doctor_id, new_begin).json()["data"]["begin"] == new_begin

    # The hours are managed like any resource: widen the weekly window, drop the exception.
    changed = api.patch(f"/api/v2/availabilities/{weekly['id']}", {"end": "18:00"}, token=admin,
                        expect=200).json()["data"]
    assert (changed["start"], changed["end"], changed["weekday"]) == ("14:00", "18:00", 2)
    api.delete(f"/api/v2/availabilities/{blocked['id']}", token=admin, expect=204)
    api.get(f"/api/v2/availabilities/{blocked['id']}", token=admin, expect=404)
    final = free_slots(api, admin, doctor_id, *window)
    assert len(final) == 16 + 2 + 16  # Thursday 09:20 is booked again


# ---------------------------------------------------------------------------------------
# 2. Many clients, one slot
# ---------------------------------------------------------------------------------------


def race(server: ServerProcess, bodies: list[dict], token: str,
         requests_: list[tuple[str, str]] | None = None) -> list[requests.Response]:
    """Sends every body at once (by default POST /api/v2/appointments; else the method and path
    given for each): one thread and one HTTPS session each, released together by a barrier."""
    barrier = threading.Barrier(len(bodies))
    responses: list[requests.Response | BaseException | None] = [None] * len(bodies)
    targets = requests_ or [("POST", "/api/v2/appointments")] * len(bodies)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def run(index: int) -> None:
        with requests.Session() as session:
            # Warm the TLS connection up first, so that the POSTs really start together.
            session.get(server.base_url + "/api/v2/appointmentsettings", headers=headers, verify=server.ca_path,
                        timeout=60)
            barrier.wait(timeout=60)
            try:
                method, path = targets[index]
                responses[index] = session.request(method, server.base_url + path, json=bodies[index],
                                                   headers=headers, verify=server.ca_path, timeout=60)
            except BaseException as error:  # noqa: BLE001 - reported below
                responses[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    failures = [r for r in responses if not isinstance(r, requests.Response)]
    assert not failures, f"requests failed: {failures}"
    for response in responses:
        check_response_invariants(response, server.secrets)
    return responses  # type: ignore[return-value]


def test_concurrent_reservations_of_one_slot_give_exactly_one_appointment(server, api):
    office = make_office(server, api)
    set_settings(api, office.admin)
    day = today() + timedelta(days=5)
    add_hours(api, office.admin, office.doctor["id"], date=day.isoformat(), start="09:00", end="12:00",
              slot_length=30)
    begin = at(day, "10:30")
    bodies = [{"user_id": office.doctor["id"], "begin": begin, **patient(tan_username=f"Racer {i}")}
              for i in range(25)]
    responses = race(server, bodies, office.admin)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 24, statuses
    winner = next(r for r in responses if r.status_code == 201).json()["data"]
    assert all("no longer free" in r.json()["message"] for r in responses if r.status_code == 409)

    calls = api.get("/api/v2/calls", token=office.doctor_token, params={"per_page": "100"},
                    expect=200).json()["data"]
    assert [(c["id"], c["begin"]) for c in calls] == [(winner["id"], begin)]
    slots = free_slots(api, office.admin, office.doctor["id"], *day_range(day))
    assert begin not in [slot["begin"] for slot in slots] and len(slots) == 5


def test_concurrent_reservations_of_overlapping_slots_of_different_lengths(server, api):
    # Two windows on one morning: 20-minute and 30-minute slots. 09:20-09:40 and 09:30-10:00
    # overlap, so of 24 clients split between them exactly one may win.
    office = make_office(server, api)
    set_settings(api, office.admin)
    day = today() + timedelta(days=6)
    for length in (20, 30):
        add_hours(api, office.admin, office.doctor["id"], date=day.isoformat(), start="09:00", end="10:00",
                  slot_length=length)
    before = free_slots(api, office.admin, office.doctor["id"], *day_range(day))
    assert [(s["local_begin"][11:16], s["duration"]) for s in before] == [
        ("09:00", 20), ("09:00", 30), ("09:20", 20), ("09:30", 30), ("09:40", 20)]
    begins = [at(day, "09:20"), at(day, "09:30")]
    bodies = [{"user_id": office.doctor["id"], "begin": begins[i % 2], **patient()} for i in range(24)]
    responses = race(server, bodies, office.admin)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 23, statuses
    winner = next(r for r in responses if r.status_code == 201).json()["data"]
    end = winner["begin"] + winner["duration"] * 60
    calls = api.get("/api/v2/calls", token=office.doctor_token, params={"per_page": "100"},
                    expect=200).json()["data"]
    assert [c["id"] for c in calls] == [winner["id"]]
    after = free_slots(api, office.admin, office.doctor["id"], *day_range(day))
    assert after == [s for s in before if s["end"] <= winner["begin"] or s["begin"] >= end]


def test_concurrent_moves_and_reservations_onto_one_slot(server, api):
    # Ten appointments are moved onto one free slot while ten new patients try to reserve it.
    office = make_office(server, api)
    set_settings(api, office.admin)
    day = today() + timedelta(days=8)
    add_hours(api, office.admin, office.doctor["id"], date=day.isoformat(), start="09:00", end="12:00",
              slot_length=15)
    booked = [reserve(api, office.admin, office.doctor["id"], at(day, "09:00") + k * 900).json()["data"]
              for k in range(10)]
    target = at(day, "11:45")
    requests_ = [("PATCH", f"/api/v2/appointments/{call['id']}") for call in booked]
    requests_ += [("POST", "/api/v2/appointments")] * 10
    bodies = [{"begin": target}] * 10 + [{"user_id": office.doctor["id"], "begin": target, **patient()}
                                         for _ in range(10)]
    responses = race(server, bodies, office.admin, requests_)
    statuses = [r.status_code for r in responses]
    assert sorted(statuses) == [200 if 200 in statuses else 201] + [409] * 19, statuses
    winner = next(r for r in responses if r.status_code in (200, 201)).json()["data"]
    assert winner["begin"] == target

    calls = api.get("/api/v2/calls", token=office.doctor_token, params={"per_page": "100"},
                    expect=200).json()["data"]
    begins = sorted(c["begin"] for c in calls)
    assert begins.count(target) == 1
    assert len(set(begins)) == len(begins) == (10 if 200 in statuses else 11)
    free = {s["begin"] for s in free_slots(api, office.admin, office.doctor["id"], *day_range(day))}
    assert free == set(at(day, "09:00") + k * 900 for k in range(12)) - set(begins)


# ---------------------------------------------------------------------------------------
# 3. Daylight saving
# ---------------------------------------------------------------------------------------


def early_and_afternoon(api, office, day: date, zone: ZoneInfo, time_zone: str) -> tuple[list[dict], list[dict]]:
    slots = free_slots(api, office.admin, office.doctor["id"], *day_range(day, zone), time_zone=time_zone)
    early = [s for s in slots if s["begin"] < at(day, "12:00", zone)]
    afternoon = [s for s in slots if s["begin"] >= at(day, "12:00", zone)]
    return early, afternoon


def check_afternoon(afternoon: list[dict], day: date, zone: ZoneInfo) -> None:
    assert [s["begin"] for s in afternoon] == [at(day, "14:00", zone) + k * 1800 for k in range(6)]
    assert [s["local_begin"][11:19] for s in afternoon] == ["14:00:00", "14:30:00", "15:00:00", "15:30:00",
                                                            "16:00:00", "16:30:00"]


def test_daylight_saving_nights_have_the_real_number_of_slots(server, api):
    office = make_office(server, api)
    set_settings(api, office.admin, "Europe/Berlin")
    for start, end in (("01:00", "04:00"), ("14:00", "17:00")):
        add_hours(api, office.admin, office.doctor["id"], weekday=7, start=start, end=end, slot_length=30)

    # Spring forward, 2027-03-28: 02:00-03:00 does not happen; 01:00-04:00 is two real hours.
    spring = date(2027, 3, 28)
    early, afternoon = early_and_afternoon(api, office, spring, BERLIN, "Europe/Berlin")
    assert [s["local_begin"] for s in early] == [
        "2027-03-28T01:00:00+01:00", "2027-03-28T01:30:00+01:00",
        "2027-03-28T03:00:00+02:00", "2027-03-28T03:30:00+02:00"]
    start = int(datetime(2027, 3, 28, 0, 0, tzinfo=UTC).timestamp())
    assert [s["begin"] for s in early] == [start + k * 1800 for k in range(4)]
    assert early[-1]["local_end"] == "2027-03-28T04:00:00+02:00"
    assert afternoon[0]["begin"] == int(datetime(2027, 3, 28, 12, 0, tzinfo=UTC).timestamp())
    check_afternoon(afternoon, spring, BERLIN)

    # Fall back, 2027-10-31: 02:00-03:00 happens twice; 01:00-04:00 is four real hours.
    autumn = date(2027, 10, 31)
    early, afternoon = early_and_afternoon(api, office, autumn, BERLIN, "Europe/Berlin")
    assert [s["local_begin"] for s in early] == [
        "2027-10-31T01:00:00+02:00", "2027-10-31T01:30:00+02:00",
        "2027-10-31T02:00:00+02:00", "2027-10-31T02:30:00+02:00",
        "2027-10-31T02:00:00+01:00", "2027-10-31T02:30:00+01:00",
        "2027-10-31T03:00:00+01:00", "2027-10-31T03:30:00+01:00"]
    start = int(datetime(2027, 10, 30, 23, 0, tzinfo=UTC).timestamp())
    assert [s["begin"] for s in early] == [start + k * 1800 for k in range(8)]
    assert afternoon[0]["begin"] == int(datetime(2027, 10, 31, 13, 0, tzinfo=UTC).timestamp())
    check_afternoon(afternoon, autumn, BERLIN)

    # Ordinary Sundays either side (winter and summer time): six slots, three hours.
    for ordinary, offset in ((date(2027, 3, 21), "+01:00"), (date(2027, 10, 24), "+02:00")):
        early, afternoon = early_and_afternoon(api, office, ordinary, BERLIN, "Europe/Berlin")
        assert [s["local_begin"][11:] for s in early] == [
            f"{h}:00{offset}" for h in ("01:00", "01:30", "02:00", "02:30", "03:00", "03:30")]
        assert early[0]["begin"] == at(ordinary, "01:00") and early[-1]["end"] == at(ordinary, "04:00")
        check_afternoon(afternoon, ordinary, BERLIN)

    # Both 02:00s of the autumn night are slots of their own: each can be reserved.
    first, second = at(autumn, "02:00", fold=0), at(autumn, "02:00", fold=1)
    assert second - first == 3600
    booked = [reserve(api, office.admin, office.doctor["id"], begin).json()["data"] for begin in (first, second)]
    assert [call["begin"] for call in booked] == [first, second]
    early, _ = early_and_afternoon(api, office, autumn, BERLIN, "Europe/Berlin")
    assert len(early) == 6 and not {first, second} & {s["begin"] for s in early}

    # The same wall-clock hours in another zone: America/New_York springs forward on 2027-03-14
    # and falls back on 2027-11-07.
    set_settings(api, office.admin, "America/New_York")
    early, afternoon = early_and_afternoon(api, office, date(2027, 3, 14), NEW_YORK, "America/New_York")
    assert [s["local_begin"] for s in early] == [
        "2027-03-14T01:00:00-05:00", "2027-03-14T01:30:00-05:00",
        "2027-03-14T03:00:00-04:00", "2027-03-14T03:30:00-04:00"]
    assert early[0]["begin"] == int(datetime(2027, 3, 14, 6, 0, tzinfo=UTC).timestamp())
    check_afternoon(afternoon, date(2027, 3, 14), NEW_YORK)
    early, afternoon = early_and_afternoon(api, office, date(2027, 11, 7), NEW_YORK, "America/New_York")
    assert [s["local_begin"][11:] for s in early] == [
        "01:00:00-04:00", "01:30:00-04:00", "01:00:00-05:00", "01:30:00-05:00",
        "02:00:00-05:00", "02:30:00-05:00", "03:00:00-05:00", "03:30:00-05:00"]
    check_afternoon(afternoon, date(2027, 11, 7), NEW_YORK)
    # Berlin's spring night is an ordinary night in New York.
    early, _ = early_and_afternoon(api, office, spring, NEW_YORK, "America/New_York")
    assert len(early) == 6


# ---------------------------------------------------------------------------------------
# 4. Lead times (the server's real clock)
# ---------------------------------------------------------------------------------------


def next_half_hour(instant: float) -> int:
    """The first :00 or :30 at or after `instant` (Berlin's offsets are whole hours)."""
    return int(-(-instant // 1800) * 1800)


def test_lead_times_refuse_reserving_too_soon_and_moving_or_cancelling_too_late(server, api):
    office = make_office(server, api)
    admin, doctor_id = office.admin, office.doctor["id"]
    set_settings(api, admin, "Europe/Berlin", create=60, cancel=120)
    # Half-hour slots all day today and tomorrow in the practice's zone.
    for day in (today(), today() + timedelta(days=1)):
        add_hours(api, admin, doctor_id, date=day.isoformat(), start="00:00", end="24:00", slot_length=30)
    t0 = time.time()

    # Nothing is offered before now + 60 minutes; the first offer is the next slot after that.
    slots = free_slots(api, admin, doctor_id, int(t0) - 3600, int(t0) + 6 * 3600)
    assert slots, "the day's hours offer slots"
    assert slots[0]["begin"] >= t0 + 3600
    assert slots[0]["begin"] <= next_half_hour(t0 + 3600 + 1)
    assert all(b["begin"] - a["begin"] == 1800 for a, b in zip(slots, slots[1:]))

    # A slot 5-35 minutes ahead: too soon to reserve, and not listed.
    soon = next_half_hour(t0 + 5 * 60)
    assert soon not in [s["begin"] for s in slots]
    message = field_error(reserve(api, admin, doctor_id, soon, expect=422), "begin")
    assert "lead_time_create" in message and "60 minutes" in message, message
    past = next_half_hour(t0) - 1800
    assert "past" in field_error(reserve(api, admin, doctor_id, past, expect=422), "begin")

    # A slot 65-95 minutes ahead: may be reserved (create lead 60), but is already inside the
    # cancel lead (120), so it can neither be moved nor cancelled.
    near = next_half_hour(t0 + 65 * 60)
    assert near in [s["begin"] for s in slots]
    call = reserve(api, admin, doctor_id, near).json()["data"]
    assert call["settings"]["timings"] == {"lead_time_create": 60, "lead_time_cancel": 120}
    far = next_half_hour(t0 + 4 * 3600)
    for attempt in (
        lambda: api.patch(f"/api/v2/appointments/{call['id']}", {"begin": far}, token=admin),
        lambda: api.put(f"/api/v2/appointments/{call['id']}", {"begin": far}, token=admin),
        lambda: api.delete(f"/api/v2/appointments/{call['id']}", token=admin),
        lambda: api.delete(f"/api/v2/calls/{call['id']}", token=admin),
    ):
        message = field_error(attempt(), "begin")
        assert "lead_time_cancel" in message and "120 minutes" in message, message
    # The lead times are those of the reservation: lowering the company's does not free it.
    set_settings(api, admin, "Europe/Berlin", create=60, cancel=0)
    field_error(api.delete(f"/api/v2/appointments/{call['id']}", token=admin), "begin")
    set_settings(api, admin, "Europe/Berlin", create=60, cancel=120)
    still = api.get(f"/api/v2/appointments/{call['id']}", token=admin, expect=200).json()["data"]
    assert (still["begin"], still["deleted_at"]) == (near, None)

    # A slot four hours ahead: moved (not into the create lead), then cancelled.
    later = reserve(api, admin, doctor_id, far).json()["data"]
    message = field_error(api.patch(f"/api/v2/appointments/{later['id']}", {"begin": soon}, token=admin), "begin")
    assert "lead_time_create" in message, message
    moved = api.patch(f"/api/v2/appointments/{later['id']}", {"begin": far + 1800}, token=admin,
                      expect=200).json()["data"]
    assert moved["begin"] == far + 1800
    api.delete(f"/api/v2/appointments/{later['id']}", token=admin, expect=204)
    free = [s["begin"] for s in free_slots(api, admin, doctor_id, int(t0), int(t0) + 6 * 3600)]
    assert far in free and far + 1800 in free and near not in free


# ---------------------------------------------------------------------------------------
# 5. Who may do what, and tenants
# ---------------------------------------------------------------------------------------


def test_roles_machine_clients_and_other_companies(server, api):
    practice = make_practice(server, api, "Praxis Rechte")
    admin = practice.admin_token
    doc1, doc2 = practice.doc1["id"], practice.doc2["id"]
    day = today() + timedelta(days=4)

    # A doctor publishes the own hours (user_id defaults to the doctor) but not a colleague's.
    own = add_hours(api, practice.doc1_token, None, date=day.isoformat(), start="09:00", end="11:00",
                    slot_length=30)
    assert own["user_id"] == doc1
    response = api.post("/api/v2/availabilities", {"user_id": doc2, "date": day.isoformat(), "start": "09:00",
                                                   "end": "10:00", "slot_length": 30}, token=practice.doc1_token)
    assert response.status_code == 403, response.text
    colleague = add_hours(api, admin, doc2, date=day.isoformat(), start="09:00", end="11:00", slot_length=30)
    # The colleague's entry is invisible to the doctor, so it cannot be changed or deleted either.
    api.get(f"/api/v2/availabilities/{colleague['id']}", token=practice.doc1_token, expect=404)
    api.patch(f"/api/v2/availabilities/{colleague['id']}", {"end": "12:00"}, token=practice.doc1_token,
              expect=404)
    api.delete(f"/api/v2/availabilities/{colleague['id']}", token=practice.doc1_token, expect=404)
    mine = api.get("/api/v2/availabilities", token=practice.doc1_token, params={"user_id": str(doc2)},
                   expect=200).json()["data"]
    assert [entry["id"] for entry in mine] == [own["id"]]
    # Handing the own entry over to a colleague is managing the colleague's hours.
    api.patch(f"/api/v2/availabilities/{own['id']}", {"user_id": doc2}, token=practice.doc1_token, expect=403)
    # An assistant reads everyone's hours but does not change them; only admins set the rules.
    everyone = api.get("/api/v2/availabilities", token=practice.assistant_token, expect=200).json()["data"]
    assert {entry["id"] for entry in everyone} == {own["id"], colleague["id"]}
    api.post("/api/v2/availabilities", {"user_id": doc1, "date": day.isoformat(), "start": "12:00",
                                        "end": "13:00", "slot_length": 30}, token=practice.assistant_token,
             expect=403)
    api.patch(f"/api/v2/availabilities/{own['id']}", {"end": "12:00"}, token=practice.assistant_token,
              expect=403)
    for token in (practice.doc1_token, practice.assistant_token):
        api.put("/api/v2/appointmentsettings", {"time_zone": "Europe/Vienna"}, token=token, expect=403)
    assert api.get("/api/v2/appointmentsettings", token=admin, expect=200).json()["data"]["time_zone"] == \
        "Europe/Berlin"

    # Reserving: a doctor the own slots only; an assistant for any doctor.
    nine, half_past = at(day, "09:00"), at(day, "09:30")
    reserve(api, practice.doc1_token, doc2, nine, expect=403)
    own_call = reserve(api, practice.doc1_token, None, nine).json()["data"]
    assert participant(own_call, "caller")["id"] == doc1
    booked = reserve(api, practice.assistant_token, doc2, nine).json()["data"]
    assert participant(booked, "caller")["id"] == doc2
    # The colleague's appointment is not the doctor's to see, move or cancel.
    api.get(f"/api/v2/appointments/{booked['id']}", token=practice.doc1_token, expect=404)
    api.patch(f"/api/v2/appointments/{booked['id']}", {"begin": half_past}, token=practice.doc1_token, expect=404)
    api.delete(f"/api/v2/appointments/{booked['id']}", token=practice.doc1_token, expect=404)
    api.delete(f"/api/v2/calls/{booked['id']}", token=practice.doc1_token, expect=404)
    # ... but the colleague's and the assistant's.
    api.patch(f"/api/v2/appointments/{booked['id']}", {"begin": half_past}, token=practice.doc2_token, expect=200)
    api.patch(f"/api/v2/appointments/{own_call['id']}", {"begin": half_past}, token=practice.assistant_token,
              expect=200)

    # A machine client has no business with appointments.
    for method, path, body in (
        ("GET", "/api/v2/appointmentsettings", None),
        ("PUT", "/api/v2/appointmentsettings", {"time_zone": "UTC"}),
        ("GET", "/api/v2/availabilities", None),
        ("POST", "/api/v2/availabilities", {"user_id": doc1, "weekday": 1, "start": "08:00", "end": "09:00",
                                            "slot_length": 15}),
        ("GET", f"/api/v2/availabilities/{own['id']}", None),
        ("DELETE", f"/api/v2/availabilities/{own['id']}", None),
        ("GET", f"/api/v2/timeslots?user_id={doc1}", None),
        ("POST", "/api/v2/appointments", {"user_id": doc1, "begin": at(day, "10:00"), **patient()}),
        ("GET", f"/api/v2/appointments/{booked['id']}", None),
        ("PATCH", f"/api/v2/appointments/{booked['id']}", {"begin": at(day, "10:00")}),
        ("DELETE", f"/api/v2/appointments/{booked['id']}", None),
    ):
        kw = {} if body is None else {"json_body": body}
        response = api.request(method, path, token=practice.client_token, **kw)
        assert response.status_code == 403, f"machine client {method} {path}: {response.status_code} {response.text}"

    # Another company: the first one's objects do not exist, its doctors are nobody there.
    other = make_tenant(server, api, "Praxis Nebenan")
    for method, path in (("GET", f"/api/v2/availabilities/{own['id']}"),
                         ("PATCH", f"/api/v2/availabilities/{own['id']}"),
                         ("DELETE", f"/api/v2/availabilities/{own['id']}"),
                         ("GET", f"/api/v2/appointments/{booked['id']}"),
                         ("PATCH", f"/api/v2/appointments/{booked['id']}"),
                         ("DELETE", f"/api/v2/appointments/{booked['id']}"),
                         ("DELETE", f"/api/v2/calls/{booked['id']}")):
        kw = {"json_body": {"end": "12:00", "begin": at(day, "10:00")}} if method == "PATCH" else {}
        response = api.request(method, path, token=other.token, **kw)
        assert response.status_code == 404, f"other company {method} {path}: {response.status_code} {response.text}"
    assert api.get("/api/v2/availabilities", token=other.token, expect=200).json()["data"] == []
    response = api.get("/api/v2/timeslots", token=other.token, params={"user_id": str(doc1)})
    field_error(response, "user_id")
    field_error(reserve(api, other.token, doc1, at(day, "10:00"), expect=None), "user_id")
    response = api.post("/api/v2/availabilities", {"user_id": doc1, "weekday": 1, "start": "08:00", "end": "09:00",
                                                   "slot_length": 15}, token=other.token)
    field_error(response, "user_id")
    # Nothing of the first company changed.
    for call_id, begin in ((own_call["id"], half_past), (booked["id"], half_past)):
        assert api.get(f"/api/v2/appointments/{call_id}", token=admin, expect=200).json()["data"]["begin"] == begin
    assert api.get(f"/api/v2/availabilities/{own['id']}", token=admin, expect=200).json()["data"] == own


# ---------------------------------------------------------------------------------------
# 6. Bad input: a 422 naming the field, never a 500
# ---------------------------------------------------------------------------------------


@dataclass
class BadInputContext:
    office: Office
    entry: dict
    appointment: dict
    slot: int  # a free slot of the weekly hours
    settings: dict

    @property
    def doctor_id(self) -> int:
        return self.office.doctor["id"]


@pytest.fixture(scope="module")
def bad_input(server, api) -> BadInputContext:
    office = make_office(server, api, "Praxis Tippfehler")
    settings = set_settings(api, office.admin, "Europe/Berlin", create=0, cancel=0)
    monday = next_weekday(today() + timedelta(days=7), 1)
    entry = add_hours(api, office.admin, office.doctor["id"], weekday=1, start="14:00", end="17:00",
                      slot_length=15)
    appointment = reserve(api, office.admin, office.doctor["id"], at(monday, "14:00")).json()["data"]
    return BadInputContext(office, entry, appointment, at(monday, "14:30"), settings)


_DROP = object()


def hours(**override):
    def body(c: BadInputContext) -> dict:
        made = {"user_id": c.doctor_id, "weekday": 3, "start": "14:00", "end": "17:00", "slot_length": 15}
        for key, value in override.items():
            if value is _DROP:
                made.pop(key, None)
            else:
                made[key] = value
        return made
    return body


def booking(**override):
    def body(c: BadInputContext) -> dict:
        made = {"user_id": c.doctor_id, "begin": c.slot, **patient()}
        for key, value in override.items():
            if value is _DROP:
                made.pop(key, None)
            else:
                made[key] = value(c) if callable(value) else value
        return made
    return body


def const(value):
    return lambda c: value


AV = "/api/v2/availabilities"
ENTRY = "/api/v2/availabilities/{entry}"
SETTINGS = "/api/v2/appointmentsettings"
APPOINTMENTS = "/api/v2/appointments"
APPOINTMENT = "/api/v2/appointments/{appointment}"
CALL = "/api/v2/calls/{appointment}"
SLOTS = "/api/v2/timeslots"
NEXT_YEAR = int(time.time()) + 366 * 86400

BAD_INPUT = [
    # Consultation hours.
    ("hour 25", "POST", AV, hours(start="25:00"), "start"),
    ("one-digit minutes", "POST", AV, hours(end="14:5"), "end"),
    ("one-digit hour", "POST", AV, hours(start="9:00", end="17:00"), "start"),
    ("seconds", "POST", AV, hours(start="14:00:00"), "start"),
    ("after 24:00", "POST", AV, hours(end="24:01"), "end"),
    ("minute 60", "POST", AV, hours(start="13:60"), "start"),
    ("time as a number", "POST", AV, hours(start=1400), "start"),
    ("30 February", "POST", AV, hours(weekday=_DROP, date="2027-02-30"), "date"),
    ("29 February of a common year", "POST", AV, hours(weekday=_DROP, date="2027-02-29"), "date"),
    ("date without leading zeros", "POST", AV, hours(weekday=_DROP, date="2027-3-8"), "date"),
    ("German date", "POST", AV, hours(weekday=_DROP, date="28.03.2027"), "date"),
    ("end equals start", "POST", AV, hours(end="14:00"), "end"),
    ("end before start", "POST", AV, hours(start="17:00", end="14:00"), "end"),
    ("slot_length 0", "POST", AV, hours(slot_length=0), "slot_length"),
    ("slot_length 1000", "POST", AV, hours(slot_length=1000, end="24:00", start="00:00"), "slot_length"),
    ("slot_length negative", "POST", AV, hours(slot_length=-15), "slot_length"),
    ("slot_length as text", "POST", AV, hours(slot_length="15"), "slot_length"),
    ("slot_length fractional", "POST", AV, hours(slot_length=15.5), "slot_length"),
    ("slot longer than the window", "POST", AV, hours(end="14:10"), "slot_length"),
    ("slot_length missing", "POST", AV, hours(slot_length=_DROP), "slot_length"),
    ("weekday 8", "POST", AV, hours(weekday=8), "weekday"),
    ("weekday 0", "POST", AV, hours(weekday=0), "weekday"),
    ("weekday as a name", "POST", AV, hours(weekday="Monday"), "weekday"),
    ("weekday and date", "POST", AV, hours(date="2027-03-28"), "weekday"),
    ("neither weekday nor date", "POST", AV, hours(weekday=_DROP), "weekday"),
    ("unknown kind", "POST", AV, hours(kind="maybe"), "kind"),
    ("kind as a number", "POST", AV, hours(kind=1), "kind"),
    ("start missing", "POST", AV, hours(start=_DROP), "start"),
    ("valid_from no date", "POST", AV, hours(valid_from="2027-13-01"), "valid_from"),
    ("valid_until before valid_from", "POST", AV, hours(valid_from="2027-05-01", valid_until="2027-04-30"),
     "valid_until"),
    ("validity on a single date", "POST", AV, hours(weekday=_DROP, date="2027-03-28", valid_from="2027-03-01"),
     "valid_from"),
    ("user_id as text", "POST", AV, hours(user_id="doctor"), "user_id"),
    ("unknown user_id", "POST", AV, hours(user_id=987654321), "user_id"),
    ("patch: end before start", "PATCH", ENTRY, const({"end": "13:00"}), "end"),
    ("patch: weekday removed", "PATCH", ENTRY, const({"weekday": None}), "weekday"),
    ("patch: slot_length 0", "PATCH", ENTRY, const({"slot_length": 0}), "slot_length"),
    ("put: hour 25", "PUT", ENTRY, const({"start": "25:00"}), "start"),
    # Settings.
    ("time zone on Mars", "PUT", SETTINGS, const({"time_zone": "Mars/Olympus"}), "time_zone"),
    ("empty time zone", "PATCH", SETTINGS, const({"time_zone": ""}), "time_zone"),
    ("time zone as a number", "PATCH", SETTINGS, const({"time_zone": 1}), "time_zone"),
    ("negative lead_time_create", "PUT", SETTINGS, const({"timings": {"lead_time_create": -1}}), "lead_time_create"),
    ("negative lead_time_cancel", "PATCH", SETTINGS, const({"lead_time_cancel": -5}), "lead_time_cancel"),
    ("lead_time_cancel over 30 days", "PATCH", SETTINGS, const({"timings": {"lead_time_cancel": 43201}}),
     "lead_time_cancel"),
    ("lead time as text", "PATCH", SETTINGS, const({"timings": {"lead_time_create": "60"}}), "lead_time_create"),
    ("lead time fractional", "PATCH", SETTINGS, const({"timings": {"lead_time_create": 1.5}}), "lead_time_create"),
    ("timings not an object", "PATCH", SETTINGS, const({"timings": "soon"}), "timings"),
    # Free slots.
    ("timeslots without user_id", "GET", SLOTS, const({}), "user_id"),
    ("timeslots user_id text", "GET", SLOTS, lambda c: {"user_id": "doc"}, "user_id"),
    ("timeslots unknown user", "GET", SLOTS, lambda c: {"user_id": "987654321"}, "user_id"),
    ("timeslots from text", "GET", SLOTS, lambda c: {"user_id": str(c.doctor_id), "from": "yesterday"}, "from"),
    ("timeslots to before from", "GET", SLOTS,
     lambda c: {"user_id": str(c.doctor_id), "from": str(c.slot), "to": str(c.slot - 60)}, "to"),
    ("timeslots 63 days", "GET", SLOTS,
     lambda c: {"user_id": str(c.doctor_id), "from": str(c.slot), "to": str(c.slot + 63 * 86400)}, "to"),
    ("timeslots far out", "GET", SLOTS,
     lambda c: {"user_id": str(c.doctor_id), "from": str(10 ** 15), "to": str(10 ** 15 + 60)}, "from"),
    # Reserving.
    ("begin as text", "POST", APPOINTMENTS, booking(begin=lambda c: str(c.slot)), "begin"),
    ("begin fractional", "POST", APPOINTMENTS, booking(begin=lambda c: c.slot + 0.5), "begin"),
    ("begin missing", "POST", APPOINTMENTS, booking(begin=_DROP), "begin"),
    ("begin not on a slot", "POST", APPOINTMENTS, booking(begin=lambda c: c.slot + 60), "begin"),
    ("begin outside the hours", "POST", APPOINTMENTS, booking(begin=lambda c: c.slot + 86400), "begin"),
    ("begin in the past", "POST", APPOINTMENTS, booking(begin=lambda c: c.slot - 30 * 86400 * 12), "begin"),
    ("begin in three years", "POST", APPOINTMENTS, booking(begin=lambda c: c.slot + 3 * 364 * 86400), "begin"),
    ("begin enormous", "POST", APPOINTMENTS, booking(begin=10 ** 18), "begin"),
    ("user_id missing", "POST", APPOINTMENTS, booking(user_id=_DROP), "user_id"),
    ("user_id unknown", "POST", APPOINTMENTS, booking(user_id=987654321), "user_id"),
    ("patient name missing", "POST", APPOINTMENTS, booking(tan_username=_DROP), "tan_username"),
    ("patient e-mail invalid", "POST", APPOINTMENTS, booking(tan_email="not-an-email"), "tan_email"),
    # Moving.
    ("move: begin text", "PATCH", APPOINTMENT, const({"begin": "soon"}), "begin"),
    ("move: begin missing", "PATCH", APPOINTMENT, const({}), "begin"),
    ("move: begin fractional", "PUT", APPOINTMENT, lambda c: {"begin": c.slot + 0.25}, "begin"),
    ("move: not on a slot", "PATCH", APPOINTMENT, lambda c: {"begin": c.slot + 300}, "begin"),
    ("move: outside the hours", "PATCH", APPOINTMENT, lambda c: {"begin": c.slot + 2 * 86400}, "begin"),
    # The calls API does not move appointments.
    ("call: new begin", "PATCH", CALL, lambda c: {"begin": c.slot}, "begin"),
    ("call: put new begin", "PUT", CALL, lambda c: {"begin": c.slot, "duration": 15}, "begin"),
    ("call: new duration", "PATCH", CALL, const({"duration": 30}), ("begin", "duration")),
]


@pytest.mark.parametrize("case", BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_a_422_naming_the_field(api, bad_input: BadInputContext, case):
    _, method, path, make_body, fields = case
    c = bad_input
    path = path.format(entry=c.entry["id"], appointment=c.appointment["id"])
    body = make_body(c)
    if method == "GET":
        response = api.get(path, token=c.office.admin, params=body)
    else:
        response = api.request(method, path, body, token=c.office.admin)
    fields = fields if isinstance(fields, tuple) else (fields,)
    assert response.status_code == 422, f"{method} {path} {body}: {response.status_code} {response.text[:400]}"
    named = list(response.json().get("errors", {}))
    assert any(name == f or name.endswith("." + f) for name in named for f in fields), (
        f"{method} {path} {body}: the 422 names {named}, not {fields}: {response.text[:400]}")
    # Nothing was changed by the refused request.
    assert api.get(ENTRY.format(entry=c.entry["id"]), token=c.office.admin, expect=200).json()["data"] == c.entry
    stored = api.get(APPOINTMENT.format(appointment=c.appointment["id"]), token=c.office.admin,
                     expect=200).json()["data"]
    assert (stored["begin"], stored["duration"]) == (c.appointment["begin"], c.appointment["duration"])
    assert api.get(SETTINGS, token=c.office.admin, expect=200).json()["data"] == c.settings
    assert len(api.get(AV, token=c.office.admin, expect=200).json()["data"]) == 1


@pytest.mark.parametrize("params", [
    pytest.param({"from": str(2 ** 63 - 1)}, id="from max, no to"),
    pytest.param({"from": str(-2 ** 63)}, id="from min, no to"),
    pytest.param({"from": str(-2 ** 63), "to": str(2 ** 63 - 1)}, id="from min to max"),
    pytest.param({"from": str(-2 ** 63), "to": str(-2 ** 63 + 10)}, id="from min to min+10"),
    pytest.param({"to": str(-2 ** 63)}, id="to min"),
    pytest.param({"from": str(2 ** 63 - 11), "to": str(2 ** 63 - 1)}, id="from max-10 to max"),
    pytest.param({"to": str(2 ** 63 - 1)}, id="to max"),
    pytest.param({"from": str(2 ** 40 + 1), "to": str(2 ** 40 + 61)}, id="beyond 2^40"),
])
def test_timeslots_with_extreme_unix_times_is_a_422_not_a_crash(tmp_path, params):
    # A server of its own: when this fails, it takes the process down with it.
    server = ServerProcess(tmp_path / "data", label="overflow server").start()
    try:
        api = ApiClient(server)
        office = make_office(server, api)
        add_hours(api, office.admin, office.doctor["id"], weekday=1, start="09:00", end="10:00", slot_length=30)
        try:
            response = api.get("/api/v2/timeslots", token=office.doctor_token,
                               params={"user_id": str(office.doctor["id"]), **params})
        except requests.ConnectionError as error:
            server.process.wait(10)
            pytest.fail(f"the server died (exit {server.process.returncode}): {error}\n"
                        f"{server.stderr_text()[-1500:]}")
        assert response.status_code == 422, response.text
        assert {"from", "to"} & set(response.json()["errors"]), response.text
        assert server.alive()
    finally:
        if server.alive():
            server.stop()


# ---------------------------------------------------------------------------------------
# 3b. Every slot of whole days in zones with unusual rules (computed with zoneinfo)
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("time_zone, days", [
    ("Europe/Berlin", ["2027-03-28", "2027-10-31", "2027-06-13"]),
    ("America/New_York", ["2027-03-14", "2027-11-07"]),
    # Daylight saving moves the clocks by 30 minutes.
    ("Australia/Lord_Howe", ["2027-04-04", "2027-10-03"]),
    # The clocks change at midnight: 2027-09-05 has no 00:00, 2027-04-03 has 25 hours.
    ("America/Santiago", ["2027-04-03", "2027-04-04", "2027-09-04", "2027-09-05"]),
    # Offsets that are not whole hours.
    ("Asia/Kathmandu", ["2027-03-28"]),
    ("America/St_Johns", ["2027-03-14", "2027-11-07"]),
])
def test_whole_days_in_many_zones_offer_every_real_half_hour(server, api, time_zone, days):
    office = make_office(server, api)
    set_settings(api, office.admin, time_zone)
    zone = ZoneInfo(time_zone)
    for text in days:
        add_hours(api, office.admin, office.doctor["id"], date=text, start="00:00", end="24:00", slot_length=30)
    for text in days:
        day = date.fromisoformat(text)
        start, end = day_range(day, zone)
        expected = list(range(start, end - 1800 + 1, 1800))
        slots = free_slots(api, office.admin, office.doctor["id"], start, end, time_zone=time_zone)
        assert [s["begin"] for s in slots] == expected, (
            f"{time_zone} {text}: {len(slots)} slots, expected {len(expected)} "
            f"({(end - start) / 3600} hours): {[s['local_begin'] for s in slots]}")
        assert all(s["duration"] == 30 for s in slots)


def test_a_doctors_other_calls_block_slots(server, api):
    office = make_office(server, api)
    set_settings(api, office.admin)
    day = today() + timedelta(days=3)
    add_hours(api, office.admin, office.doctor["id"], date=day.isoformat(), start="09:00", end="11:00",
              slot_length=30)
    # An ordinary video call of the doctor, 09:40-10:10, not made through the appointments API.
    walk_in = api.post("/api/v2/calls", {"duration": 30, "call_type": "tan", "begin": at(day, "09:40"),
                                         "tan_username": "Walter Walk-in",
                                         "additional_callees": [{"user_id": office.doctor["id"]}]},
                       token=office.admin, expect=201).json()["data"]
    slots = free_slots(api, office.admin, office.doctor["id"], *day_range(day))
    assert [s["local_begin"][11:16] for s in slots] == ["09:00", "10:30"]
    for hhmm in ("09:30", "10:00"):
        reserve(api, office.admin, office.doctor["id"], at(day, hhmm), expect=409)
    booked = reserve(api, office.admin, office.doctor["id"], at(day, "10:30"), expect=201).json()["data"]
    # An ordinary call is not an appointment.
    api.get(f"/api/v2/appointments/{walk_in['id']}", token=office.admin, expect=404)
    api.patch(f"/api/v2/appointments/{walk_in['id']}", {"begin": at(day, "09:00")}, token=office.admin, expect=404)
    api.delete(f"/api/v2/appointments/{walk_in['id']}", token=office.admin, expect=404)
    # The calls API may change an appointment's other fields when begin and duration stay.
    changed = api.patch(f"/api/v2/calls/{booked['id']}", {"description": "Kontrolle", "begin": booked["begin"],
                                                           "duration": 30}, token=office.admin,
                        expect=200).json()["data"]
    assert (changed["description"], changed["begin"], changed["duration"]) == ("Kontrolle", booked["begin"], 30)
    # An unavailable entry without times blocks the whole day; deleting it frees the day again.
    day_off = add_hours(api, office.admin, office.doctor["id"], kind="unavailable", date=day.isoformat())
    assert (day_off["start"], day_off["end"], day_off["slot_length"]) == ("00:00", "24:00", None)
    assert free_slots(api, office.admin, office.doctor["id"], *day_range(day)) == []
    reserve(api, office.admin, office.doctor["id"], at(day, "09:00"), expect=422)
    api.delete(f"/api/v2/availabilities/{day_off['id']}", token=office.admin, expect=204)
    assert free_slots(api, office.admin, office.doctor["id"], *day_range(day)) == slots[:1]


def test_an_appointment_that_ended_early_frees_its_slot(server, api):
    from conftest import SeededSession, seed_call_session

    office = make_office(server, api)
    set_settings(api, office.admin)
    day = today() + timedelta(days=2)
    add_hours(api, office.admin, office.doctor["id"], date=day.isoformat(), start="09:00", end="10:00",
              slot_length=30)
    begin = at(day, "09:00")
    call = reserve(api, office.admin, office.doctor["id"], begin).json()["data"]
    # The patient came early, the consultation was held and everyone left a minute ago: the
    # server's idle check ends the call.
    now = int(time.time())
    seed_call_session(server, call["id"], [SeededSession(participant(call, "tanuser")["id"], now - 120, now - 60),
                                           SeededSession(participant(call, "caller")["id"], now - 110, now - 61)])
    wait_until(lambda: api.get(f"/api/v2/calls/{call['id']}", token=office.admin, expect=200).json()["data"][
        "status"] == 2, 30, "the held call ended")
    slots = free_slots(api, office.admin, office.doctor["id"], *day_range(day))
    assert [s["begin"] for s in slots] == [begin, begin + 1800]
    again = reserve(api, office.admin, office.doctor["id"], begin).json()["data"]
    assert again["id"] != call["id"] and again["begin"] == begin


def test_the_hours_of_a_departed_doctor_can_still_be_removed(server, api):
    office = make_office(server, api)
    day = today() + timedelta(days=9)
    entry = add_hours(api, office.admin, office.doctor["id"], date=day.isoformat(), start="09:00", end="10:00",
                      slot_length=30)
    other = add_hours(api, office.admin, office.doctor["id"], weekday=5, start="09:00", end="10:00", slot_length=30)
    api.delete(f"/api/v2/users/{office.doctor['id']}", token=office.admin, expect=204)
    field_error(api.get("/api/v2/timeslots", token=office.admin, params={"user_id": str(office.doctor["id"])}),
                "user_id")
    field_error(reserve(api, office.admin, office.doctor["id"], at(day, "09:00"), expect=None), "user_id")
    field_error(api.post("/api/v2/availabilities", {"user_id": office.doctor["id"], "weekday": 1, "start": "09:00",
                                                    "end": "10:00", "slot_length": 30}, token=office.admin),
                "user_id")
    # They can no longer be changed (nobody could book them), only removed.
    field_error(api.patch(f"/api/v2/availabilities/{other['id']}", {"end": "11:00"}, token=office.admin), "user_id")
    api.delete(f"/api/v2/availabilities/{entry['id']}", token=office.admin, expect=204)
    api.delete(f"/api/v2/availabilities/{other['id']}", token=office.admin, expect=204)
    assert api.get("/api/v2/availabilities", token=office.admin, expect=200).json()["data"] == []


# ---------------------------------------------------------------------------------------
# 7. Notifications over real SMTP and the SMS gateway
# ---------------------------------------------------------------------------------------


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def english_date(day: date) -> str:
    """How the mails' English part writes a date: "7 December 2026"."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def test_reserve_move_cancel_send_invitation_update_and_cancellation(server_factory, smtp, sms):
    server = server_factory(label="appointment mail server", **delivery_options(smtp.port, sms))
    api = ApiClient(server)
    tenant = make_tenant(server, api, "Praxis Terminpost")
    doctor_email = unique_email("terminarzt")
    doctor = api.create_user(tenant.token, role=2, company_id=tenant.company_id, name="Theo Terminarzt",
                             email=doctor_email, password="termin-passwort-1")
    subscribe(api, tenant.token, doctor["id"], kinds=(2001, 2002, 2003))
    # The practice is in New York (the server's --time-zone stays Europe/Berlin): its hours and
    # the times in its messages are New York's.
    set_settings(api, tenant.token, "America/New_York")
    day = today(NEW_YORK) + timedelta(days=3)
    add_hours(api, tenant.token, doctor["id"], date=day.isoformat(), start="10:00", end="12:00", slot_length=30)
    patient_email, patient_mobile = unique_email("terminpatientin"), "+4915198765432"

    def latest(address: str, count: int):
        mails = smtp.to(address)
        assert len(mails) == count, [(m.recipients, m.message["Subject"]) for m in smtp.received()]
        return mails[-1]

    # Reserved: the patient's invitation (link, TAN, REQUEST 0), the doctor's notice, the SMS.
    begin = at(day, "10:00", NEW_YORK)
    call = reserve(api, tenant.token, doctor["id"], begin, tan_username="Ronja Reservierung",
                   tan_email=patient_email, tan_mobile=patient_mobile).json()["data"]
    tan = tan_of(call)
    smtp.wait_for(2, what="the invitation and the doctor's notice")
    invitation = latest(patient_email, 1)
    assert tan in invitation.text and f"/video/login?tan={tan}" in invitation.text, invitation.text
    assert f"/video/login?tan={tan}" in invitation.html
    assert "Ronja Reservierung" in invitation.text
    # The zone is named by its abbreviation (EST/EDT) or, as Foundation on Linux writes it, its offset (GMT-5).
    local = datetime.fromtimestamp(begin, NEW_YORK)
    zone_names = (local.tzname(), f"GMT{int(local.utcoffset().total_seconds() // 3600):+d}")
    assert any(f"{english_date(day)}, 10:00 {name}" in invitation.text for name in zone_names), invitation.text
    calendar, event = invitation.event()
    assert str(calendar["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == 0
    uid = str(event["UID"])
    assert uid.startswith(f"call-{call['id']}@")
    assert int(event["DTSTART"].dt.timestamp()) == begin
    assert int(event["DTEND"].dt.timestamp()) == begin + 30 * 60
    notice = latest(doctor_email, 1)
    assert str(notice.event()[1]["UID"]) == uid and int(notice.event()[1]["SEQUENCE"]) == 0
    assert f"/video/{call['id']}" in notice.text and tan not in notice.text
    [text] = sms.wait_for(1)
    assert text["to"] == patient_mobile and tan in text["text"] and "10:00" in text["text"]

    # Moved to 11:00: REQUEST again, same UID, SEQUENCE 1, the new time, the same TAN.
    moved = at(day, "11:00", NEW_YORK)
    api.patch(f"/api/v2/appointments/{call['id']}", {"begin": moved}, token=tenant.token, expect=200)
    smtp.wait_for(4, what="the update mails")
    update = latest(patient_email, 2)
    calendar, event = update.event()
    assert str(calendar["METHOD"]) == "REQUEST" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 1
    assert int(event["DTSTART"].dt.timestamp()) == moved
    assert int(event["DTEND"].dt.timestamp()) == moved + 30 * 60
    assert tan in update.text and f"{english_date(day)}, 11:00" in update.text, update.text
    notice = latest(doctor_email, 2)
    assert str(notice.event()[1]["UID"]) == uid and int(notice.event()[1]["SEQUENCE"]) == 1
    texts = sms.wait_for(2)
    assert "11:00" in texts[-1]["text"] and texts[-1]["to"] == patient_mobile

    # Cancelled: CANCEL, same UID, SEQUENCE 2, STATUS CANCELLED, no join link.
    api.delete(f"/api/v2/appointments/{call['id']}", token=tenant.token, expect=204)
    smtp.wait_for(6, what="the cancellation mails")
    cancel = latest(patient_email, 3)
    calendar, event = cancel.event()
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2
    assert str(event["STATUS"]) == "CANCELLED"
    assert "/video/" not in cancel.text and tan not in cancel.text
    notice = latest(doctor_email, 3)
    calendar, event = notice.event()
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2
    texts = sms.wait_for(3)
    assert texts[-1]["to"] == patient_mobile and tan not in texts[-1]["text"]

    # Exactly once each, all marked sent, one event kind per step.
    records = wait_until(
        lambda: (lambda found: found if found and all(n["status"] == "sent" for n in found) else None)(
            notifications(api, tenant.token, call_id=str(call["id"]))), 15, "the notifications marked sent")
    assert sorted(n["notification_id"] for n in records) == [2001] * 3 + [2002] * 3 + [2003] * 3
    assert len(smtp.received()) == 6 and len(sms.messages) == 3
