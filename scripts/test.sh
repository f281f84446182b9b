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

echo "==> end-to-end tests (pytest, live HTTPS)"
venv=.build/e2e-venv
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt
SPRECHSTUNDE_BIN="$PWD/.build/debug/sprechstunde" "$venv/bin/python" -m pytest -q tests/e2e "$@"
