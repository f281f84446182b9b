#!/usr/bin/env bash
# The quick start: install what is missing, build, and start the demo server.
# Extra arguments go to `sprechstunde demo` (e.g. --port 9443 --data-dir /srv/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"

scripts/install-deps.sh
echo "==> Building (release; the first build takes a few minutes)"
mkdir -p .build
set +e
swift build -c release --product sprechstunde 2>&1 | tee .build/demo-build.log \
    | grep --line-buffered -E "Compiling [A-Za-z]+ |Build complete|Build of product .* complete|error:" | sed -u 's/^/    /'
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
    echo "Build failed; the last lines of .build/demo-build.log:" >&2
    tail -30 .build/demo-build.log >&2
    exit 1
fi
binary=".build/release/sprechstunde"
echo "==> Starting the demo server"
exec "$binary" demo "$@"
