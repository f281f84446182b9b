#!/usr/bin/env bash
# Benchmark of the video signaling (WebSocket /video/signal): Sprechstunde against a minimal
# reference relay driven by the same load generator, in the same run.
#
# Starts a demo server (HTTPS, access log off) in a temporary directory, creates calls with two
# TAN users each and a straight-in video session per TAN user through the API, and measures with
# bench/signaling_load.py (Python asyncio, websockets):
#   - idle: 2 x IDLE_ROOMS WebSockets that said hello, kept idle (answering the server's pings);
#     the server's RSS/PSS before, with them and after closing them, and its CPU while they idle;
#   - relay: RELAY_ROOMS rooms of two clients sending timestamped signals to each other at RATE
#     messages/s in all; one-way relay latency (p50/p99/max), messages/s relayed, server CPU;
#   - saturation: SAT_ROOMS rooms offered SAT_RATE messages/s: the most this machine relays;
# each against the reference relay (bench/signaling_load.py reference: hello -> welcome, signal
# relayed to the partner, same JSON work and rate limit, no application), over TLS with the
# demo's certificate and, with PLAIN=1, once more over plain HTTP (`serve --plain-http` on the
# demo's data). Prints a table and writes JSON (default bench/results/signaling.json; not
# committed). All traffic goes to 127.0.0.1. See bench/README.md.
#
# Settings (environment): SPRECHSTUNDE_BIN, SERVER_THREADS, DURATION, WARMUP, IDLE_WAIT, ATTEMPTS,
# OUT, KEEP_WORK as for bench/run.sh, and
#   IDLE_ROOMS=2500   rooms of the idle phase (two connections each)
#   HOLD=20           seconds the idle connections are held (pings come every 5 s)
#   RATE=2000  RELAY_ROOMS=50        the relay phase: messages/s in all, rooms (per socket
#                                    RATE / (2 x RELAY_ROOMS), at most 45/s: the limit is 50/s)
#   SAT_RATE=24000  SAT_ROOMS=300    the saturation phase (offered; the generator skips what it
#                                    cannot send in time rather than bursting)
#   GENERATORS=2      load generator processes for the relay and saturation phases
#   PLAIN=1           also measure over plain HTTP (0: TLS only)
#   REFERENCE_IDLE=1  also hold the idle connections on the reference relay (its memory per
#                     connection; 0 skips it)
set -euo pipefail

DEFAULT_OUT=signaling.json # below bench/results/
RESULT_PREFIX=signaling-
IDLE_ROOMS=${IDLE_ROOMS:-2500}
HOLD=${HOLD:-20}
RATE=${RATE:-2000}
RELAY_ROOMS=${RELAY_ROOMS:-50}
SAT_RATE=${SAT_RATE:-24000}
SAT_ROOMS=${SAT_ROOMS:-300}
GENERATORS=${GENERATORS:-2}
PLAIN=${PLAIN:-1}
REFERENCE_IDLE=${REFERENCE_IDLE:-1}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOAD=$BENCH_DIR/signaling_load.py
VENV=$ROOT/.build/bench-venv
PY=$VENV/bin/python
REFERENCE_PID=""
LOAD_PID=""

stop_group() { # PID NAME: SIGTERM to the process group PID leads, up to 10 s, then SIGKILL
    local pid=$1 name=$2
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "$name ($pid) did not stop within 10 s: killing it"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
signaling_cleanup() { # the generator and the reference relay, then lib.sh's clean-up
    local status=$?
    stop_group "$LOAD_PID" "load generator"
    stop_group "$REFERENCE_PID" "reference relay"
    set +e
    (exit "$status") # lib.sh's clean-up exits with the status it finds in $?
    cleanup
}
trap signaling_cleanup EXIT

# ---------------------------------------------------------------------------------------------
step "Checking tools"
for tool in curl python3; do command -v "$tool" >/dev/null || die "missing $tool"; done
if [[ ! -x $PY ]] || ! "$PY" -c 'import websockets, uvloop' 2>/dev/null; then
    note "making $VENV (websockets, uvloop from PyPI)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check 'websockets>=14,<18' 'uvloop>=0.19'
fi
VERSIONS=$("$PY" -c 'import sys, websockets, uvloop; print(f"python {sys.version.split()[0]}, websockets {websockets.__version__}, uvloop {uvloop.__version__}")')
note "$VERSIONS"
# Each WebSocket is a descriptor for the generator, and three for the server over TLS (the
# connection and libmicrohttpd's socket pair to the WebSocket loop).
NEEDED=$((2 * IDLE_ROOMS * 3 + 1000))
HARD=$(ulimit -Hn)
if [[ $HARD != unlimited ]] && ((HARD < NEEDED)); then
    die "ulimit -Hn is $HARD; $((2 * IDLE_ROOMS)) connections need $NEEDED descriptors (raise it, or lower IDLE_ROOMS)"
fi
ulimit -n "$HARD"
note "descriptors: ulimit -n $(ulimit -n) for the server and the generator"

build_binary
start_server
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

phase() { # runs one generator phase in its own process group (the clean-up stops it whole)
    setsid "$PY" "$LOAD" "$@" --results "$RESULTS" &
    LOAD_PID=$!
    local status=0
    wait "$LOAD_PID" || status=$?
    LOAD_PID=""
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        mkdir -p "$(dirname "$OUT")"
        cp "$WORK/server.err" "$(dirname "$OUT")/${RESULT_PREFIX}crashed.stderr" 2>/dev/null || true
        cp "$WORK/server-plain.err" "$(dirname "$OUT")/${RESULT_PREFIX}crashed-plain.stderr" 2>/dev/null || true
        die "Sprechstunde (pid $SERVER_PID) died during the phase ($*); its stderr: $(dirname "$OUT")/${RESULT_PREFIX}crashed*.stderr"
    fi
    ((status == 0)) || die "the load generator failed ($*)"
}

make_rooms() { # BASE: calls and sessions for every phase; sets TOKENS
    local rooms=$((IDLE_ROOMS + RELAY_ROOMS + SAT_ROOMS))
    TOKENS=$WORK/tokens-$1.json
    step "Creating $rooms calls (two TAN users each) and $((2 * rooms)) video sessions through the API"
    "$PY" "$LOAD" setup --base "$2" --ca "$CA" --email "$EMAIL" --password "$PASSWORD" --rooms "$rooms" --out "$TOKENS"
}

start_reference() { # TRANSPORT: the reference relay, TLS on the demo's certificate or plain; sets REFERENCE_URL
    stop_group "$REFERENCE_PID" "reference relay"
    local tls=() scheme=ws
    if [[ $1 == tls ]]; then tls=(--cert "$CA" --key "$KEY") scheme=wss; fi
    rm -f "$WORK/reference.port"
    setsid "$PY" "$LOAD" reference --tokens "$TOKENS" --port-file "$WORK/reference.port" "${tls[@]}" \
        >>"$WORK/reference.out" 2>>"$WORK/reference.err" &
    REFERENCE_PID=$!
    for _ in $(seq 100); do
        [[ -s $WORK/reference.port ]] && break
        kill -0 "$REFERENCE_PID" 2>/dev/null || {
            cat "$WORK/reference.err" >&2
            die "the reference relay exited"
        }
        sleep 0.1
    done
    [[ -s $WORK/reference.port ]] || die "the reference relay did not listen within 10 s"
    REFERENCE_URL=$scheme://127.0.0.1:$(cat "$WORK/reference.port")/video/signal
    note "reference relay ($1) on $REFERENCE_URL (pid $REFERENCE_PID)"
}

measure_transport() { # TRANSPORT SPRECHSTUNDE-URL: idle, relay, saturation; reference first each time
    local transport=$1 url=$2 server target pid
    local common=(--ca "$CA" --tokens "$TOKENS" --transport "$transport")
    local relay=(--duration "$(seconds "$DURATION")" --warmup "$(seconds "$WARMUP")" --procs "$GENERATORS"
        --attempts "$ATTEMPTS" --idle-wait "$IDLE_WAIT")
    for server in reference sprechstunde; do
        [[ $server == reference && $REFERENCE_IDLE != 1 ]] && continue
        if [[ $server == reference ]]; then target=$REFERENCE_URL pid=$REFERENCE_PID; else target=$url pid=$SERVER_PID; fi
        step "idle ($transport) on $server: $((2 * IDLE_ROOMS)) connections, held ${HOLD} s"
        phase idle "${common[@]}" --url "$target" --server-pid "$pid" --server "$server" --skip 0 \
            --rooms "$IDLE_ROOMS" --hold "$HOLD"
    done
    for server in reference sprechstunde; do
        if [[ $server == reference ]]; then target=$REFERENCE_URL pid=$REFERENCE_PID; else target=$url pid=$SERVER_PID; fi
        step "relay ($transport) on $server: $RELAY_ROOMS rooms, $RATE messages/s, warm-up $WARMUP, then $DURATION"
        phase relay "${common[@]}" "${relay[@]}" --url "$target" --server-pid "$pid" --server "$server" \
            --phase relay --skip "$IDLE_ROOMS" --rooms "$RELAY_ROOMS" --rate "$RATE"
    done
    for server in reference sprechstunde; do
        if [[ $server == reference ]]; then target=$REFERENCE_URL pid=$REFERENCE_PID; else target=$url pid=$SERVER_PID; fi
        step "saturation ($transport) on $server: $SAT_ROOMS rooms, $SAT_RATE messages/s offered"
        phase relay "${common[@]}" "${relay[@]}" --url "$target" --server-pid "$pid" --server "$server" \
            --phase saturation --skip "$((IDLE_ROOMS + RELAY_ROOMS))" --rooms "$SAT_ROOMS" --rate "$SAT_RATE"
    done
}

# ---------------------------------------------------------------------------------------------
make_rooms tls "$BASE"
start_reference tls
wait_until_quiet
measure_transport tls "${BASE/https:/wss:}/video/signal"
cp "$WORK/server.err" "$WORK/server-tls.err"

if [[ $PLAIN == 1 ]]; then
    step "Restarting Sprechstunde as serve --plain-http on the demo's data"
    stop_process "$SERVER_PID" sprechstunde
    SERVER_PID=""
    "$BIN" serve --plain-http --port 0 --host 127.0.0.1 --data-dir "$WORK/data" --access-log off \
        --max-connections-per-address 0 \
        --threads "$SERVER_THREADS" >"$WORK/server-plain.out" 2>"$WORK/server-plain.err" &
    SERVER_PID=$!
    PLAIN_BASE=""
    for _ in $(seq 300); do
        PLAIN_BASE=$(sed -n 's|^Sprechstunde listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$WORK/server-plain.out" | head -1)
        [[ -n $PLAIN_BASE ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || {
            cat "$WORK/server-plain.err" >&2
            die "the plain-HTTP server exited before listening"
        }
        sleep 0.1
    done
    [[ -n $PLAIN_BASE ]] || die "the plain-HTTP server did not say it was listening within 30 s"
    note "$PLAIN_BASE (pid $SERVER_PID)"
    make_rooms plain "$PLAIN_BASE"
    start_reference plain
    wait_for_quiet || note "WARNING: the machine is busy (${BUSY_BEFORE}%)"
    measure_transport plain "${PLAIN_BASE/http:/ws:}/video/signal"
fi

# ---------------------------------------------------------------------------------------------
step "Results"
mkdir -p "$(dirname "$OUT")"
RESULTS_DIR=$(cd "$(dirname "$OUT")" && pwd)
cp "$WORK/server-tls.err" "$RESULTS_DIR/${RESULT_PREFIX}sprechstunde-tls.stderr"
[[ $PLAIN == 1 ]] && cp "$WORK/server-plain.err" "$RESULTS_DIR/${RESULT_PREFIX}sprechstunde-plain.stderr"
cp "$WORK/reference.err" "$RESULTS_DIR/${RESULT_PREFIX}reference.stderr"
cp "$RESULTS" "$RESULTS_DIR/${RESULT_PREFIX}phases.jsonl"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no -- Sources Package.swift 2>/dev/null) ]]; then
    COMMIT="$COMMIT+dirty"
fi
STATUS=0
"$PY" "$LOAD" report --out "$OUT" \
    --meta "commit=$COMMIT" --meta "binary=$BIN" --meta "server_threads=$SERVER_THREADS" --meta "cpus=$NCPU" \
    --meta "duration=$DURATION" --meta "warmup=$WARMUP" --meta "idle_rooms=$IDLE_ROOMS" --meta "hold_s=$HOLD" \
    --meta "rate=$RATE" --meta "relay_rooms=$RELAY_ROOMS" --meta "sat_rate=$SAT_RATE" --meta "sat_rooms=$SAT_ROOMS" \
    --meta "generator_processes=$GENERATORS" --meta "generator=$VERSIONS" \
    --meta "cpu_busy_percent_before=$BUSY_BEFORE" --meta "loadavg_before=$LOAD_BEFORE" \
    --meta "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$RESULTS" || STATUS=$?
note "server logs: $RESULTS_DIR/${RESULT_PREFIX}sprechstunde-*.stderr, the phases' JSON lines: ${RESULT_PREFIX}phases.jsonl"
exit "$STATUS"
