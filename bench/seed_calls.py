#!/usr/bin/env python3
"""Data for bench/calls.sh: calls through the Calls API, call-log rows straight into SQLite.

Usage:
  seed_calls.py body DOCTOR_ID
      Prints the JSON body of POST /api/v2/calls that calls.sh measures: one doctor callee, one
      TAN user.
  seed_calls.py calls BASE_URL CA_FILE TOKEN DOCTOR_ID COUNT
      Creates COUNT calls with that body as the signed-in admin, over one keep-alive connection.
  seed_calls.py logs DATABASE COUNT
      Inserts COUNT call-log rows, in one transaction, spread over the calls in DATABASE: closed
      sessions of the calls' participants (with the TAN for the TAN user), oldest first over the
      last 30 days. Safe while the server runs: the database is in WAL mode, and the server waits
      (busy_timeout) for the few hundred milliseconds the transaction holds the write lock.
  seed_calls.py plans DATABASE
      Prints SQLite's query plans of the two queries behind GET /api/v2/calllogs for the demo
      admin (built as in Sources/SprechstundeSQLite/SQLiteStore+CallLogs.swift and
      SQLiteStore.page), and how long each takes here on page 1 and page 90 of 1000.

Standard library only; `calls` only talks to BASE_URL, which calls.sh points at 127.0.0.1.
"""

import http.client
import json
import random
import sqlite3
import ssl
import sys
import time
import urllib.parse

LOG_SPAN_SECONDS = 30 * 86_400


def call_body(doctor_id: int) -> str:
    return json.dumps({
        "duration": 15, "call_type": "tan", "tan_username": "Patient", "tan_email": "patient@example.org",
        "additional_callees": [{"user_id": doctor_id}],
    })


def create_calls(base: str, ca_file: str, token: str, doctor_id: int, count: int) -> int:
    url = urllib.parse.urlsplit(base)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        print(f"seed_calls.py: refusing a non-loopback server {base}", file=sys.stderr)
        return 2
    context = ssl.create_default_context(cafile=ca_file)
    connection = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = call_body(doctor_id)
    started = time.monotonic()
    for index in range(1, count + 1):
        connection.request("POST", "/api/v2/calls", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status != 201:
            print(f"seed_calls.py: call {index}: HTTP {response.status}: {payload[:300]!r}", file=sys.stderr)
            return 1
    connection.close()
    elapsed = time.monotonic() - started
    print(f"    {count} calls in {elapsed:.1f} s ({elapsed / count * 1000:.1f} ms each, one at a time)",
          file=sys.stderr)
    return 0


def insert_logs(path: str, count: int) -> int:
    database = sqlite3.connect(path, timeout=30, isolation_level=None)
    database.execute("PRAGMA foreign_keys = ON")
    participants: dict[int, list[tuple[int, int, str | None]]] = {}
    for call_id, company_id, user_id, tan in database.execute(
            """SELECT p.call_id, c.company_id, p.user_id, p.tan FROM call_participants p
               JOIN calls c ON c.id = p.call_id WHERE c.deleted_at IS NULL ORDER BY p.call_id, p.position"""):
        participants.setdefault(call_id, []).append((company_id, user_id, tan))
    calls = sorted(participants)
    if not calls:
        print("seed_calls.py: no calls in the database", file=sys.stderr)
        return 1
    randomness = random.Random(1)  # the same rows every run
    start = int(time.time()) - LOG_SPAN_SECONDS

    def rows():
        for index in range(count):
            call_id = calls[index * len(calls) // count]  # each call's sessions lie together in time
            company_id, user_id, tan = randomness.choice(participants[call_id])
            created = start + index * LOG_SPAN_SECONDS // count
            end = created + randomness.randint(60, 1800)
            yield call_id, company_id, user_id, tan, created, end, end, end

    started = time.monotonic()
    database.execute("BEGIN IMMEDIATE")
    try:
        database.executemany(
            """INSERT INTO call_logs (call_id, company_id, user_id, tan, created_at, updated_at, last_seen_at, end_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""", rows())
        database.execute("COMMIT")
    except BaseException:
        database.execute("ROLLBACK")
        raise
    total = database.execute("SELECT count(*) FROM call_logs").fetchone()[0]
    database.close()
    print(f"    {count} rows over {len(calls)} calls in {time.monotonic() - started:.1f} s; "
          f"call_logs now holds {total} rows", file=sys.stderr)
    return 0


def print_plans(path: str) -> int:
    database = sqlite3.connect(path, timeout=30)
    company_id = database.execute("SELECT company_id FROM calls ORDER BY id LIMIT 1").fetchone()[0]
    where = "WHERE deleted_at IS NULL AND company_id = ?"
    count_sql = f"SELECT count(*) FROM call_logs {where}"
    page_sql = ("SELECT id, call_id, company_id, user_id, tan, created_at, updated_at, end_at, deleted_at "
                f"FROM call_logs {where} ORDER BY id LIMIT ? OFFSET ?")
    queries = [
        ("count", count_sql, (company_id,)),
        ("page 1 of 1000", page_sql, (company_id, 1000, 0)),
        ("page 90 of 1000", page_sql, (company_id, 1000, 89_000)),
    ]
    for name, sql, parameters in queries:
        plan = [row[3] for row in database.execute(f"EXPLAIN QUERY PLAN {sql}", parameters)]
        times = []
        for _ in range(5):
            started = time.perf_counter()
            rows = database.execute(sql, parameters).fetchall()
            times.append(time.perf_counter() - started)
        print(f"{name}: {sql}")
        print(f"    plan: {'; '.join(plan)}")
        print(f"    {len(rows)} rows, median {sorted(times)[2] * 1000:.2f} ms (Python sqlite3, warm cache)")
    database.close()
    return 0


def main() -> int:
    command, arguments = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "body" and len(arguments) == 1:
        print(call_body(int(arguments[0])))
        return 0
    if command == "calls" and len(arguments) == 5:
        base, ca_file, token, doctor_id, count = arguments
        return create_calls(base, ca_file, token, int(doctor_id), int(count))
    if command == "logs" and len(arguments) == 2:
        return insert_logs(arguments[0], int(arguments[1]))
    if command == "plans" and len(arguments) == 1:
        return print_plans(arguments[0])
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
