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
swift build --build-tests 2>&1 | grep -E "error|warning: |Build complete" || true
swift build --build-tests >/dev/null 2>&1 || { swift build --build-tests; exit 1; }

echo "==> swift test"
swift test --skip-build --parallel 2>&1 | tee .build/swift-test.log | grep -vE "^(Test Case|\[[0-9]+/[0-9]+\])" | tail -40
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "swift test failed; see .build/swift-test.log" >&2; exit 1; }

echo "==> end-to-end tests (pytest, live HTTPS)"
venv=.build/e2e-venv
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt
SPRECHSTUNDE_BIN="$PWD/.build/debug/sprechstunde" "$venv/bin/python" -m pytest -q tests/e2e "$@"
