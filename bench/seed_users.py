#!/usr/bin/env python3
"""Creates doctor users through the Users API, as the signed-in admin.

Usage: seed_users.py BASE_URL CA_FILE TOKEN COUNT

Prints the id of the first user created (the benchmark reads that one). Creating a user
hashes its password with Argon2id (~0.1-0.2 s), so two connections work side by side.
Standard library only; only talks to BASE_URL, which run.sh points at 127.0.0.1.
"""

import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse

WORKERS = 2


def main() -> int:
    base, ca_file, token, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    url = urllib.parse.urlsplit(base)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        print(f"seed_users.py: refusing a non-loopback server {base}", file=sys.stderr)
        return 2
    context = ssl.create_default_context(cafile=ca_file)
    created: dict[int, int] = {}
    failures: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(1, count + 1))

    def worker() -> None:
        connection = http.client.HTTPSConnection(url.hostname, url.port, context=context, timeout=30)
        while True:
            with lock:
                index = next(next_index, None)
                if index is None or failures:
                    break
            body = json.dumps({
                "name": f"Dr. Bench Doctor{index:03d}",
                "email": f"doctor{index:03d}@bench.sprechstunde.example",
                "password": f"bench-password-{index:03d}",
                "roles": [2],
            })
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            try:
                connection.request("POST", "/api/v2/users", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    failures.append(f"user {index}: {error}")
                break
            with lock:
                if response.status != 201:
                    failures.append(f"user {index}: HTTP {response.status}: {payload[:300]!r}")
                    break
                created[index] = json.loads(payload)["data"]["id"]
                done = len(created)
            if done % 20 == 0 or done == count:
                print(f"    {done}/{count} users created", file=sys.stderr, flush=True)
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        print("seed_users.py: " + "; ".join(failures[:3]), file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(f"    {count} users in {elapsed:.1f} s ({elapsed / count * 1000:.0f} ms each, {WORKERS} at a time)",
          file=sys.stderr)
    print(created[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
