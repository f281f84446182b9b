# Shared by the benchmark scripts (bench/run.sh, bench/calls.sh); sourced, not run.
#
# A script sets DEFAULT_OUT (its JSON's name below bench/results/) and RESULT_PREFIX (the prefix
# of its copies of the server logs there), sources this file, then calls in order: check_tools,
# build_binary, start_server, sign_in, (its own seeding, and saving of response bodies below
# $WWW), start_nginx, same_bodies, wait_until_quiet, measure_pair for each endpoint,
# write_results. See bench/README.md for the settings.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
export PATH="/opt/swift/usr/bin:/usr/sbin:$PATH"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
SERVER_THREADS=${SERVER_THREADS:-4}
NGINX_WORKERS=${NGINX_WORKERS:-2}
IDLE_WAIT=${IDLE_WAIT:-120}
ATTEMPTS=${ATTEMPTS:-3}
OUT=${OUT:-$BENCH_DIR/results/${DEFAULT_OUT:?}}
RESULT_PREFIX=${RESULT_PREFIX:-}

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}
seconds() { # "10s" / "1m" / "500ms" → whole seconds, rounded up (for timeouts)
    python3 -c 'import re,sys; m=re.fullmatch(r"(\d+)(ms|s|m|h)?", sys.argv[1]) or sys.exit("bad duration " + sys.argv[1]); n=int(m[1]); print(-(-n*{"ms":1,"s":1000,"m":60000,"h":3600000}[m[2] or "s"]//1000))' "$1"
}

# ---------------------------------------------------------------------------------------------
# Clean-up: everything the script started, bounded in time.
WORK=""
SERVER_PID=""
NGINX_PID=""
WRK_PID=""

stop_process() { # PID NAME: SIGTERM, up to 10 s, then SIGKILL (children first for nginx)
    local pid=$1 name=$2
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        note "$name ($pid) did not stop within 10 s: killing it"
        local children
        children=$(pgrep -P "$pid" || true)
        kill -KILL "$pid" $children 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n $WRK_PID$NGINX_PID$SERVER_PID ]]; then
        step "Stopping servers"
    fi
    stop_process "$WRK_PID" wrk
    stop_process "$NGINX_PID" nginx
    stop_process "$SERVER_PID" sprechstunde
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${KEEP_WORK:-0} == 1 ]]; then
            note "kept $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
check_tools() { # installs wrk / nginx-light when missing (root only); sets NGINX
    step "Checking tools"
    local missing=() pair
    for pair in wrk:wrk nginx:nginx-light curl:curl python3:python3 openssl:openssl; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if ((${#missing[@]})); then
        [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}: run as root or 'sudo apt-get install -y ${missing[*]}'"
        note "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    NGINX=$(command -v nginx)
    note "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), $("$NGINX" -v 2>&1 | sed 's/.*version: //')"
}

build_binary() { # sets BIN: $SPRECHSTUNDE_BIN, or the release build (made up to date)
    if [[ -n ${SPRECHSTUNDE_BIN:-} ]]; then
        BIN=$SPRECHSTUNDE_BIN
        [[ -x $BIN ]] || die "SPRECHSTUNDE_BIN=$BIN is not an executable"
        step "Using $BIN"
        return
    fi
    step "Building the release binary (several minutes when not up to date)"
    "$ROOT/scripts/install-deps.sh" | sed 's/^/    /'
    local log="$ROOT/.build/bench-build.log"
    mkdir -p "$ROOT/.build"
    if ! (cd "$ROOT" && swift build -c release --product sprechstunde >"$log" 2>&1); then
        tail -30 "$log" >&2
        die "build failed; see $log"
    fi
    note "$(tail -1 "$log")"
    BIN=$ROOT/.build/release/sprechstunde
}

# ---------------------------------------------------------------------------------------------
start_server() { # makes WORK (RAW, WWW below it), starts the demo; sets SERVER_PID BASE CA KEY EMAIL PASSWORD DB
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/sprechstunde-bench.XXXXXX")
    chmod 755 "$WORK" # nginx's workers (not root) read the static files below it
    RAW=$WORK/wrk
    WWW=$WORK/www
    mkdir -p "$RAW" "$WWW"
    chmod 755 "$WWW"

    step "Starting Sprechstunde (demo, --threads $SERVER_THREADS, access log off)"
    "$BIN" demo --port 0 --host 127.0.0.1 --data-dir "$WORK/data" --access-log off --threads "$SERVER_THREADS" \
        --max-connections-per-address 0 \
        >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    BASE=""
    for _ in $(seq 300); do # up to 30 s (first start makes a certificate and the database)
        BASE=$(sed -n 's|^Sprechstunde listening on \(https://127\.0\.0\.1:[0-9]*\).*|\1|p' "$WORK/server.out" | head -1)
        [[ -n $BASE ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || {
            cat "$WORK/server.err" >&2
            die "the server exited before listening"
        }
        sleep 0.1
    done
    [[ -n $BASE ]] || die "the server did not say it was listening within 30 s"
    [[ $BASE == https://127.0.0.1:* ]] || die "unexpected base URL $BASE"
    for _ in $(seq 50); do # config.ini is written right after the listening line
        grep -q '^base_url' "$WORK/data/config.ini" 2>/dev/null && break
        sleep 0.1
    done
    CA=$WORK/data/tls/cert.pem
    KEY=$WORK/data/tls/key.pem
    DB=$WORK/data/sprechstunde.sqlite
    EMAIL=$(ini credentials email)
    PASSWORD=$(ini credentials password)
    note "$BASE (pid $SERVER_PID)"
}

ini() { # SECTION KEY: a value of the demo's config.ini
    python3 -c 'import configparser,sys; c=configparser.ConfigParser(); c.read(sys.argv[1]); print(c[sys.argv[2]][sys.argv[3]])' \
        "$WORK/data/config.ini" "$1" "$2"
}

api() { # curl against the server (or nginx) with the demo certificate; fails on HTTP errors
    curl --silent --show-error --fail --max-time 20 --cacert "$CA" "$@"
}

sign_in() { # as the demo admin; sets TOKEN AUTH
    step "Signing in as $EMAIL"
    TOKEN=$(api -H 'Content-Type: application/json' \
        --data "$(python3 -c 'import json,sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' "$EMAIL" "$PASSWORD")" \
        "$BASE/api/v2/auth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    AUTH="Authorization: Bearer $TOKEN"
}

body_bytes() { # FILE: its size in bytes
    stat -c %s "$1"
}

# ---------------------------------------------------------------------------------------------
start_nginx() { # HTTP-EXTRA SERVER-LOCATIONS: nginx on the demo's certificate, serving $WWW; sets NGINX_BASE
    # The caller saved the bodies below $WWW and writes the locations that serve them; the part
    # common to all (keep-alive, no logs, the same security headers as Sprechstunde sends, so both
    # answers have about the same size) is here.
    chmod 644 "$WWW"/*
    step "Starting nginx ($NGINX_WORKERS workers) on the same certificate"
    NGX=$WORK/nginx
    mkdir -p "$NGX"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$NGX/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log off;
    types {}
    default_type application/json;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    server_tokens off;
    etag off;
    client_body_temp_path $NGX/body;
$1
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $CA;
        ssl_certificate_key $KEY;
        root $WWW;
        add_header Cache-Control no-store;
        add_header X-Content-Type-Options nosniff;
        add_header Referrer-Policy no-referrer;
        add_header Strict-Transport-Security "max-age=31536000";

$2
        location / { return 404; }
    }
}
EOF
    "$NGINX" -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" -t -q 2>"$NGX/test.log" || {
        cat "$NGX/test.log" >&2
        die "nginx rejected $NGX/nginx.conf"
    }
    "$NGINX" -e "$NGX/error.log" -p "$NGX" -c "$NGX/nginx.conf" 2>>"$NGX/error.log" &
    NGINX_PID=$!
    NGINX_BASE="https://127.0.0.1:$port"
    for _ in $(seq 100); do # any answer (the 404 of /) means it listens
        curl --silent --max-time 2 --cacert "$CA" -o /dev/null "$NGINX_BASE/" && break
        kill -0 "$NGINX_PID" 2>/dev/null || {
            cat "$NGX/error.log" >&2
            die "nginx exited"
        }
        sleep 0.1
    done
}

same_bodies() { # PATH...: both servers answer GET PATH with the same bytes, or the comparison is void
    local path
    for path in "$@"; do
        cmp -s <(api -H "$AUTH" "$BASE$path") <(api -H "$AUTH" "$NGINX_BASE$path") ||
            die "nginx and Sprechstunde answer $path differently"
    done
}

# ---------------------------------------------------------------------------------------------
# wrk, and the CPU accounting around it. The machine is shared (another engineer's build may run
# at the same time), so each run records the CPU time of the server under test, of wrk, and of
# everything else.
wrk_run() { # DURATION OUTPUT URL TIME-LIMIT-SECONDS [LUA-SCRIPT]
    # In the background and waited for, so that a signal stops the script (and wrk) at once.
    local script=()
    [[ -n ${5:-} ]] && script=(-s "$5")
    timeout --kill-after=5 "$4" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$1" --timeout 5s --latency \
        "${script[@]}" -H "$AUTH" "$3" >"$2" 2>&1 &
    WRK_PID=$!
    local status=0
    wait "$WRK_PID" || status=$?
    WRK_PID=""
    return "$status"
}
CLOCK_TICKS=$(getconf CLK_TCK)
NCPU=$(nproc)
machine_ms() { # busy CPU time of the whole machine so far: user nice system irq softirq steal
    awk -v hz="$CLOCK_TICKS" '/^cpu /{printf "%d\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1000 / hz}' /proc/stat
}
processes_ms() { # PID...: user+system CPU time of these processes so far (all threads)
    local ticks=0 pid fields
    for pid in "$@"; do
        read -r -a fields < <(sed 's/^.*) //' "/proc/$pid/stat") # fields[11], [12]: utime, stime
        ticks=$((ticks + fields[11] + fields[12]))
    done
    echo $((ticks * 1000 / CLOCK_TICKS))
}
threads_ms() { # PID...: "TID MS" per line, the CPU time of each of their threads so far
    local task fields
    for task in $(printf '/proc/%s/task/* ' "$@"); do
        read -r -a fields < <(sed 's/^.*) //' "$task/stat" 2>/dev/null) || continue
        echo "${task##*/} $(((fields[11] + fields[12]) * 1000 / CLOCK_TICKS))"
    done
}
busy_threads() { # BEFORE AFTER MS: how many threads used over a tenth of a core in MS (threads_ms outputs)
    # Shows how evenly the server spread the work: libmicrohttpd gives each connection to one
    # worker thread, which answers its connections' requests one at a time.
    awk -v limit="$(($3 / 10))" 'NR == FNR { before[$1] = $2; next } $2 - before[$1] > limit { n++ } END { print n + 0 }' \
        <(echo "$1") <(echo "$2")
}
children_ms() { # sets CHILDREN_MS: CPU time of this shell's finished children (wrk, curl, helpers)
    # Neither this function nor `times` may run in $(...): a subshell reports its own children.
    times >"$WORK/times"
    local line
    line=$(tail -1 "$WORK/times")
    CHILDREN_MS=0
    if [[ $line =~ ^([0-9]+)m([0-9]+)\.([0-9]{3})s\ ([0-9]+)m([0-9]+)\.([0-9]{3})s$ ]]; then
        local -a r=("${BASH_REMATCH[@]}")
        CHILDREN_MS=$(((10#${r[1]} + 10#${r[4]}) * 60000 + (10#${r[2]} + 10#${r[5]}) * 1000 + 10#${r[3]} + 10#${r[6]}))
    fi
}
busy_percent() { # share of the machine's CPUs busy over the next second
    local before
    before=$(machine_ms)
    sleep 1
    echo $((($(machine_ms) - before) / (10 * NCPU)))
}
server_pids() { # the processes that serve: Sprechstunde, or nginx's workers
    if [[ $1 == nginx ]]; then pgrep -P "$NGINX_PID"; else echo "$SERVER_PID"; fi
}
settle() { # PID...: waits (up to 30 s) until these use under 5% of a CPU
    # When wrk stops, the server still works off the requests that were in flight (with a slow
    # endpoint and many connections, seconds of CPU); that must not go into the next run.
    local before
    for _ in $(seq 60); do
        before=$(processes_ms "$@")
        sleep 0.5
        (($(processes_ms "$@") - before <= 25)) && return 0
    done
    note "the server is still busy 30 s after wrk stopped"
}

# Measure on a quiet machine: wait (up to IDLE_WAIT seconds) for three quiet seconds in a row.
wait_for_quiet() { # sets BUSY_BEFORE; returns 1 when the machine stayed busy
    local quiet=0 waited=0
    while ((quiet < 3 && waited < IDLE_WAIT)); do
        BUSY_BEFORE=$(busy_percent)
        if ((BUSY_BEFORE <= 10)); then quiet=$((quiet + 1)); else quiet=0; fi
        waited=$((waited + 1))
        if ((waited == 5 && quiet < 3)); then
            note "the machine is busy ($BUSY_BEFORE%): waiting up to ${IDLE_WAIT}s for it to calm down"
        fi
    done
    ((quiet >= 3))
}

wait_until_quiet() { # before the first measurement; sets LOAD_BEFORE and the limits of measure
    if wait_for_quiet; then
        note "the machine is quiet (${BUSY_BEFORE}% busy)"
    else
        note "WARNING: still ${BUSY_BEFORE}% busy (a build?): the figures will be low and noisy"
    fi
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    LIMIT=$(($(seconds "$DURATION") + 30))
    WARM_LIMIT=$(($(seconds "$WARMUP") + 30))
    # A run during which other processes took more than a tenth of the machine is repeated.
    OTHER_LIMIT_MS=$(($(seconds "$DURATION") * 1000 * NCPU / 10))
}

measure() { # KEY SERVER URL [LUA-SCRIPT]: warm-up, then the measured run; sets CPU_SPEC
    # Returns 1 when other processes disturbed the run. (Called in a condition, so `set -e` is
    # off in here: every failure is checked explicitly.)
    local key=$1 server=$2 url=$3 lua=${4:-} pids machine0 server0 client0 client_cpu server_cpu other_cpu threads0 \
        started busy
    wrk_run "$WARMUP" "$RAW/warmup-$key-$server.txt" "$url" "$WARM_LIMIT" "$lua" ||
        die "wrk warm-up failed: $(tail -3 "$RAW/warmup-$key-$server.txt")"
    mapfile -t pids < <(server_pids "$server")
    settle "${pids[@]}"
    children_ms
    machine0=$(machine_ms) server0=$(processes_ms "${pids[@]}") client0=$CHILDREN_MS threads0=$(threads_ms "${pids[@]}")
    started=$(date +%s%N)
    wrk_run "$DURATION" "$RAW/$key-$server.txt" "$url" "$LIMIT" "$lua" ||
        die "wrk failed: $(tail -3 "$RAW/$key-$server.txt")"
    kill -0 "${pids[@]}" 2>/dev/null || die "$server stopped during the run (KEEP_WORK=1 keeps its logs)"
    children_ms
    client_cpu=$((CHILDREN_MS - client0))
    server_cpu=$(($(processes_ms "${pids[@]}") - server0))
    other_cpu=$(($(machine_ms) - machine0 - server_cpu - client_cpu))
    busy=$(busy_threads "$threads0" "$(threads_ms "${pids[@]}")" $((($(date +%s%N) - started) / 1000000)))
    settle "${pids[@]}"
    grep -E 'Requests/sec|^ +99%|Non-2xx|Socket errors' "$RAW/$key-$server.txt" | sed 's/^ */    /'
    note "CPU ms: server $server_cpu (threads above 10% of a core: $busy), wrk $client_cpu, anything else $other_cpu"
    CPU_SPEC="server=$server_cpu,wrk=$client_cpu,other=$other_cpu,busy_threads=$busy"
    ((other_cpu <= OTHER_LIMIT_MS))
}

RUNS=()
measure_pair() { # LABEL KEY PATH [LUA-SCRIPT]: nginx, then Sprechstunde, each retried while disturbed
    # (`CONNECTIONS=16 measure_pair ...` measures one endpoint with other settings.)
    local label=$1 key=$2 path=$3 lua=${4:-} server url attempt
    for server in nginx sprechstunde; do
        if [[ $server == nginx ]]; then url=$NGINX_BASE$path; else url=$BASE$path; fi
        for attempt in $(seq "$ATTEMPTS"); do
            step "wrk $label on $server: warm-up $WARMUP, then $DURATION (-t$WRK_THREADS -c$CONNECTIONS)"
            measure "$key" "$server" "$url" "$lua" && break
            if ((attempt < ATTEMPTS)); then
                note "other processes used the CPU during the run: repeating it (attempt $((attempt + 1)) of $ATTEMPTS)"
                wait_for_quiet || true
            fi
        done
        RUNS+=(--run "$label" "$server" "$RAW/$key-$server.txt" "$CPU_SPEC")
    done
}

# ---------------------------------------------------------------------------------------------
write_results() { # REPORT-ARGUMENTS...: the table and the JSON (at $OUT); exits with report.py's status
    local load_after
    load_after=$(cut -d' ' -f1-3 /proc/loadavg)
    step "Results"
    mkdir -p "$(dirname "$OUT")"
    local results_dir wrk_kept i
    results_dir=$(cd "$(dirname "$OUT")" && pwd)
    wrk_kept=$results_dir/wrk
    mkdir -p "$wrk_kept"
    cp "$RAW"/*.txt "$wrk_kept"/
    for ((i = 0; i < ${#RUNS[@]}; i += 5)); do # point the JSON at the kept copies
        RUNS[i + 3]=$wrk_kept/$(basename "${RUNS[i + 3]}")
    done
    local server_log=$results_dir/${RESULT_PREFIX}sprechstunde.stderr nginx_log=$results_dir/${RESULT_PREFIX}nginx-error.log
    cp "$WORK/server.err" "$server_log"
    cp "$NGX/error.log" "$nginx_log"
    local server_err_lines nginx_err_lines commit
    server_err_lines=$(wc -l <"$WORK/server.err")
    nginx_err_lines=$(wc -l <"$NGX/error.log")
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no -- Sources Package.swift 2>/dev/null) ]]; then
        commit="$commit+dirty"
    fi
    local status=0
    python3 "$BENCH_DIR/report.py" --out "$OUT" \
        --meta "commit=$commit" --meta "binary=$BIN" --meta "duration=$DURATION" --meta "warmup=$WARMUP" \
        --meta "connections=$CONNECTIONS" --meta "wrk_threads=$WRK_THREADS" --meta "server_threads=$SERVER_THREADS" \
        --meta "nginx_workers=$NGINX_WORKERS" --meta "cpus=$NCPU" \
        --meta "cpu_busy_percent_before=$BUSY_BEFORE" --meta "loadavg_before=$LOAD_BEFORE" --meta "loadavg_after=$load_after" \
        --meta "sprechstunde_stderr_lines=$server_err_lines" --meta "nginx_error_log_lines=$nginx_err_lines" \
        "$@" "${RUNS[@]}" || status=$?
    note "raw wrk outputs: $wrk_kept/"
    note "server logs: $server_log ($server_err_lines lines), $nginx_log ($nginx_err_lines lines)"
    exit "$status"
}
