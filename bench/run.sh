#!/usr/bin/env bash
# Benchmark: Sprechstunde against nginx serving the same response bytes, in the same run.
#
# Starts a demo server (HTTPS, access log off) in a temporary directory, fills it with doctors,
# saves the exact bodies of GET /api/v2/users/{id} and GET /api/v2/users?per_page=100, serves
# them as static files from an nginx with the same certificate, and runs wrk against both.
# Prints a table and writes JSON (default bench/results/latest.json; not committed).
# All traffic goes to 127.0.0.1. See bench/README.md; bench/calls.sh measures the Calls API.
#
# Settings (environment):
#   SPRECHSTUNDE_BIN  use this binary instead of building .build/release/sprechstunde
#   DURATION=10s  WARMUP=3s  CONNECTIONS=64  WRK_THREADS=2   wrk load per measurement
#   SERVER_THREADS=4   sprechstunde --threads;   NGINX_WORKERS=2   nginx worker_processes
#   USERS=120   doctors created;   OUT=FILE   where the JSON goes;   KEEP_WORK=1   keep the temp dir
#   IDLE_WAIT=120   seconds to wait for a quiet machine before measuring (then measure anyway)
#   ATTEMPTS=3   tries per measurement while other processes take >10% of the CPU during it
set -euo pipefail

USERS=${USERS:-120}
DEFAULT_OUT=latest.json # below bench/results/
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_tools
build_binary
start_server
sign_in

step "Creating $USERS doctors (Argon2id makes each take ~0.1-0.2 s)"
DOCTOR_ID=$(python3 "$BENCH_DIR/seed_users.py" "$BASE" "$CA" "$TOKEN" "$USERS")
note "single-user endpoint reads doctor $DOCTOR_ID"

# ---------------------------------------------------------------------------------------------
step "Saving the response bodies for nginx"
SINGLE_PATH="/api/v2/users/$DOCTOR_ID"
LIST_PATH="/api/v2/users?per_page=100"
api -H "$AUTH" -o "$WWW/user.json" "$BASE$SINGLE_PATH"
api -H "$AUTH" -o "$WWW/users.json" "$BASE$LIST_PATH"
LISTED=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["data"]))' "$WWW/users.json")
[[ $LISTED -eq 100 ]] || die "the list has $LISTED entries, not 100 (USERS=$USERS too small?)"
note "user.json $(body_bytes "$WWW/user.json") bytes, users.json $(body_bytes "$WWW/users.json") bytes ($LISTED users)"

# The query string is not part of the match: /api/v2/users?per_page=100 lands on the first.
start_nginx "" "
        location = /api/v2/users { try_files /users.json =404; }
        location = /api/v2/users/$DOCTOR_ID { try_files /user.json =404; }"
same_bodies "$SINGLE_PATH" "$LIST_PATH"
note "$NGINX_BASE (pid $NGINX_PID); both answer the same bodies"

# ---------------------------------------------------------------------------------------------
wait_until_quiet
measure_pair "GET /api/v2/users/{id}" single "$SINGLE_PATH"
measure_pair "GET /api/v2/users?per_page=100" list "$LIST_PATH"

write_results --meta "users=$USERS" \
    --meta "single_body_bytes=$(body_bytes "$WWW/user.json")" --meta "list_body_bytes=$(body_bytes "$WWW/users.json")" \
    --goal "GET /api/v2/users/{id}" "min_rps_ratio=0.25,max_p99_ms=10"
