#!/usr/bin/env bash
# Installs the Debian packages Sprechstunde needs to build, run and test, when missing.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail

packages=(pkg-config libmicrohttpd-dev libgnutls28-dev libsodium-dev libsqlite3-dev libwslay-dev libcurl4-openssl-dev openssl ca-certificates)
if [[ "${1:-}" == "--test" ]]; then
    packages+=(python3 python3-venv sqlite3 curl chromium chromium-driver coturn iproute2 util-linux)
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "Missing Debian packages: ${missing[*]}" >&2
        echo "Run as root, or: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "==> Installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
        if [[ -x "$candidate/swift" ]]; then
            echo "Swift is at $candidate but not on PATH: export PATH=$candidate:\$PATH" >&2
            exit 1
        fi
    done
    echo "No Swift toolchain found: Sprechstunde needs Swift 6 (swift.org toolchain for Debian)." >&2
    exit 1
fi
echo "==> Dependencies present"
