#!/usr/bin/env bash
# The whole test suite: style, Swift unit/store/in-process tests, and the live HTTPS
# end-to-end tests in Python against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

scripts/install-deps.sh --test

echo "==> swift format lint"
swift format lint --strict --recursive Package.swift Sources Tests

echo "==> swift build (debug, with tests)"
mkdir -p .build
swift build --build-tests 2>&1 | tee .build/build.log | grep --line-buffered -E "Compiling [A-Za-z]+ |error:|Build complete" | sed -u 's/^/    /'

echo "==> swift test"
# Test names and results go to the log; the summary (and any failure) is shown here.
swift test --skip-build 2>&1 | tee .build/swift-test.log | LC_ALL=C.UTF-8 grep -E "Test run with|recorded an issue|error:" | tail -40

echo "==> end-to-end tests (pytest, live HTTPS and real browsers, loopback only)"
venv=.build/e2e-venv
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
# The one step that needs the network.
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt
export SPRECHSTUNDE_BIN="$PWD/.build/debug/sprechstunde"
# The tests run in namespaces of their own: a network with nothing but loopback (no call
# media, no TURN traffic, nothing at all leaves the machine), and a PID namespace, so that no
# browser, chromedriver or turnserver outlives the run (the kernel ends them with its init).
# Without root, a user namespace stands in; SPRECHSTUNDE_E2E_ISOLATION=none runs them as they are.
isolate=(unshare --net --pid --fork --mount-proc)
if [[ "${SPRECHSTUNDE_E2E_ISOLATION:-}" == "none" ]]; then
    isolate=()
elif [[ $(id -u) -ne 0 ]]; then
    isolate=(unshare --map-root-user --net --pid --fork --mount-proc)
fi
if ((${#isolate[@]})); then
    if ! "${isolate[@]}" -- true 2>/dev/null; then
        echo "Cannot create a network namespace (${isolate[*]}); run as root, or set SPRECHSTUNDE_E2E_ISOLATION=none" >&2
        exit 1
    fi
    # sh stays PID 1 of the namespace (no exec): pytest is not PID 1 and keeps normal signals.
    "${isolate[@]}" -- sh -c 'ip link set lo up && "$@"' sh "$venv/bin/python" -m pytest -q tests/e2e "$@"
else
    "$venv/bin/python" -m pytest -q tests/e2e "$@"
fi
