#!/usr/bin/env bash
# Benchmark of the Calls API: Sprechstunde against nginx answering the same bytes, in the same run.
#
# Starts a demo server (HTTPS, access log off) in a temporary directory, creates a doctor and
# CALLS calls through the API, writes LOGS call-log rows straight into the demo's SQLite file,
# and measures with wrk
#   - GET /api/v2/calllogs?per_page=100, ?per_page=1000 and ?per_page=1000&page=90 (page size
#     against page number), and
#   - POST /api/v2/calls creating a call with one doctor callee and one TAN user (last: it writes),
# each against nginx answering the same bytes (for the POST: the body of a typical 201).
# Prints SQLite's query plans of the call-log list, a table, and writes JSON (default
# bench/results/calls.json; not committed). All traffic goes to 127.0.0.1. See bench/README.md.
#
# Settings (environment): those of bench/run.sh except USERS, and
#   CALLS=300   calls created through the API before the call-log rows are written
#   LOGS=100000   call-log rows written (at least 90,000: page 90 of 1000 needs them)
#   LOG_CONNECTIONS=16   wrk -c for the call-log reads (each takes tens of ms; at 64 connections
#                        the queue alone makes requests wait for seconds, beyond wrk's 5 s timeout)
set -euo pipefail

DEFAULT_OUT=calls.json # below bench/results/
RESULT_PREFIX=calls-
CALLS=${CALLS:-300}
LOGS=${LOGS:-100000}
LOG_CONNECTIONS=${LOG_CONNECTIONS:-16}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
((CALLS >= 1 && LOGS >= 90000)) || die "CALLS=$CALLS, LOGS=$LOGS: at least 1 call and 90000 rows (page 90 of 1000)"

check_tools
build_binary
start_server
sign_in

step "Creating a doctor (the callee)"
DOCTOR_ID=$(python3 "$BENCH_DIR/seed_users.py" "$BASE" "$CA" "$TOKEN" 1)
CALL_BODY=$(python3 "$BENCH_DIR/seed_calls.py" body "$DOCTOR_ID")
note "doctor $DOCTOR_ID; each call: $CALL_BODY"

step "Creating $CALLS calls through POST /api/v2/calls"
python3 "$BENCH_DIR/seed_calls.py" calls "$BASE" "$CA" "$TOKEN" "$DOCTOR_ID" "$CALLS"

step "Writing $LOGS call-log rows into $(basename "$DB") (one transaction, the server running)"
python3 "$BENCH_DIR/seed_calls.py" logs "$DB" "$LOGS"

step "SQLite's query plans behind GET /api/v2/calllogs (the demo admin: one company)"
python3 "$BENCH_DIR/seed_calls.py" plans "$DB" >"$WORK/query-plans.txt"
sed 's/^/    /' "$WORK/query-plans.txt"

# ---------------------------------------------------------------------------------------------
step "Saving the response bodies for nginx"
PATHS=( # key (file and wrk output names), path, entries the page must hold
    logs100 "/api/v2/calllogs?per_page=100" 100
    logs1000 "/api/v2/calllogs?per_page=1000" 1000
    logs1000p90 "/api/v2/calllogs?per_page=1000&page=90" 1000
)
for ((i = 0; i < ${#PATHS[@]}; i += 3)); do
    key=${PATHS[i]} path=${PATHS[i + 1]} expected=${PATHS[i + 2]}
    api -H "$AUTH" -o "$WWW/$key.json" "$BASE$path"
    read -r listed total < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["data"]), d["meta"]["total"])' "$WWW/$key.json")
    [[ $listed -eq $expected ]] || die "$path lists $listed entries, not $expected"
    note "$key.json $(body_bytes "$WWW/$key.json") bytes ($listed of $total entries)"
done
CALLS_PATH=/api/v2/calls
STATUS=$(api -H "$AUTH" -H 'Content-Type: application/json' --data "$CALL_BODY" -o "$WWW/call.json" -w '%{http_code}' \
    "$BASE$CALLS_PATH")
[[ $STATUS == 201 ]] || die "POST $CALLS_PATH answered $STATUS, not 201"
note "call.json $(body_bytes "$WWW/call.json") bytes (a 201 of POST $CALLS_PATH)"

LUA=$WORK/create-call.lua
cat >"$LUA" <<LUA
-- wrk -s: POST /api/v2/calls with one doctor callee and one TAN user (Authorization comes from -H).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$CALL_BODY]]
LUA

# The query string is not part of a location match: a map picks the file by it. nginx's static
# module answers a POST with 405; error_page turns that into an internal GET of the same path,
# which answers with the saved 201 body (status 200; the request body is read and dropped).
start_nginx '
    map $args $calllogs_file {
        "per_page=100" /logs100.json;
        "per_page=1000" /logs1000.json;
        "per_page=1000&page=90" /logs1000p90.json;
        default /no-such-file;
    }' "
        location = /api/v2/calllogs { try_files \$calllogs_file =404; }
        location = $CALLS_PATH { error_page 405 =200 $CALLS_PATH; try_files /call.json =404; }"
same_bodies "${PATHS[1]}" "${PATHS[4]}" "${PATHS[7]}"
cmp -s <(api -H "$AUTH" -H 'Content-Type: application/json' --data "$CALL_BODY" "$NGINX_BASE$CALLS_PATH") "$WWW/call.json" ||
    die "nginx does not answer POST $CALLS_PATH with the saved 201 body"
note "$NGINX_BASE (pid $NGINX_PID); both answer the same bodies"

# ---------------------------------------------------------------------------------------------
wait_until_quiet
for ((i = 0; i < ${#PATHS[@]}; i += 3)); do
    CONNECTIONS=$LOG_CONNECTIONS measure_pair "GET ${PATHS[i + 1]}" "${PATHS[i]}" "${PATHS[i + 1]}"
done
count_calls() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM calls").fetchone()[0])' "$DB"
}
CALLS_BEFORE=$(count_calls)
measure_pair "POST $CALLS_PATH" create "$CALLS_PATH" "$LUA"
# Every 2xx should be a call in the database: wrk's answers of the warm-up and the run, plus at
# most the requests still in flight when wrk stopped.
CALLS_AFTER=$(count_calls)
ANSWERED=$(cat "$RAW/warmup-create-sprechstunde.txt" "$RAW/create-sprechstunde.txt" | awk '/requests in/ {n += $1} END {print n + 0}')
note "calls in the database: $CALLS_BEFORE before, $CALLS_AFTER after ($((CALLS_AFTER - CALLS_BEFORE)) created; wrk counted $ANSWERED answers)"

write_results --meta "calls=$CALLS" --meta "call_logs=$LOGS" --meta "doctor_id=$DOCTOR_ID" \
    --meta "call_log_connections=$LOG_CONNECTIONS" \
    --meta "calls_created_during_post_runs=$((CALLS_AFTER - CALLS_BEFORE))" --meta "post_answers_counted_by_wrk=$ANSWERED" \
    --meta "logs100_body_bytes=$(body_bytes "$WWW/logs100.json")" \
    --meta "logs1000_body_bytes=$(body_bytes "$WWW/logs1000.json")" \
    --meta "logs1000p90_body_bytes=$(body_bytes "$WWW/logs1000p90.json")" \
    --meta "call_body_bytes=$(body_bytes "$WWW/call.json")" \
    --meta "query_plans=$(cat "$WORK/query-plans.txt")" \
    --goal "POST $CALLS_PATH" "min_rps=3000"
