#!/usr/bin/env python3
"""Load generator, reference relay and report for bench/signaling.sh (see bench/README.md).

Subcommands:
  setup      signs in as the demo admin, creates calls with two TAN users each and a straight-in
             video session per TAN user; writes [[token_a, token_b], ...] (one pair per room)
  reference  a minimal signaling relay (hello -> welcome, signal relayed to the partner) built on
             the same WebSocket library as the generator, over TLS with the demo certificate or
             plain; rooms are the token pairs of a setup file
  idle       opens two WebSockets per room, says hello, keeps them idle (answering pings) and
             samples the server's memory before, with the connections and after closing them
  relay      rooms of two clients sending timestamped signals to each other at a fixed aggregate
             rate; one-way relay latency, achieved messages/s and CPU of server and generator
  report     the table of all phases, and the JSON

Everything connects to 127.0.0.1 only, every phase is bounded by counts and durations, and
each phase appends its figures as one JSON line to the --results file; progress goes to stdout.
"""

import argparse
import array
import asyncio
import datetime
import http.client
import json
import multiprocessing
import os
import random
import secrets
import signal
import ssl
import string
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

try:
    import uvloop
except ImportError:  # the generator works without it, only slower
    uvloop = None

import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def progress(text: str) -> None:
    print(f"    {text}", flush=True)


def only_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host != "127.0.0.1":
        sys.exit(f"signaling_load: only 127.0.0.1 is measured, not {host!r}")


def run_loop(coroutine):
    if uvloop is not None:
        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


# ---------------------------------------------------------------------------------------------
# /proc accounting: CPU time of processes and of the whole machine, memory of a process.

def process_cpu_ms(pid: int) -> int:
    """user+system CPU of a process (all its threads) so far, in ms."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 // CLOCK_TICKS


def thread_cpu_ms(pid: int) -> dict:
    """{tid: (name, ms)} for every thread of a process."""
    result = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as file:
                text = file.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        result[tid] = (name, (int(fields[11]) + int(fields[12])) * 1000 // CLOCK_TICKS)
    return result


def busy_threads(before: dict, after: dict, elapsed_ms: float) -> list:
    """Threads that used over a tenth of a core, busiest first: [{name, cpu_percent}]."""
    rows = []
    for tid, (name, ms) in after.items():
        used = ms - before.get(tid, (name, 0))[1]
        if used > elapsed_ms / 10:
            rows.append({"name": name, "cpu_percent": round(100 * used / elapsed_ms, 1)})
    return sorted(rows, key=lambda row: -row["cpu_percent"])


def machine_busy_ms() -> int:
    with open("/proc/stat") as file:
        fields = file.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) * 1000 // CLOCK_TICKS


def memory_kib(pid: int) -> dict:
    """VmRSS, RssAnon, VmHWM from status, Pss from smaps_rollup (KiB)."""
    result = {}
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                result[key] = int(value.split()[0])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            for line in file:
                key, _, value = line.partition(":")
                if key in ("Pss", "Pss_Anon"):
                    result[key] = int(value.split()[0])
    except OSError:
        pass
    result["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return result


class CPUWindow:
    """CPU of the server, of the generator's processes and of everything else between start() and stop()."""

    def __init__(self, server_pid: int, generator_pids: list):
        self.server_pid = server_pid
        self.generator_pids = generator_pids

    def _generator_ms(self) -> int:
        total = 0
        for pid in self.generator_pids:
            try:
                total += process_cpu_ms(pid)
            except OSError:
                pass
        return total

    def start(self) -> None:
        self.t0 = time.monotonic_ns()
        self.machine0 = machine_busy_ms()
        self.server0 = process_cpu_ms(self.server_pid)
        self.threads0 = thread_cpu_ms(self.server_pid)
        self.generator0 = self._generator_ms()

    def stop(self) -> dict:
        elapsed_ms = (time.monotonic_ns() - self.t0) / 1e6
        server = process_cpu_ms(self.server_pid) - self.server0
        generator = self._generator_ms() - self.generator0
        machine = machine_busy_ms() - self.machine0
        return {
            "elapsed_ms": round(elapsed_ms),
            "server": server,
            "generator": generator,
            "other": max(0, machine - server - generator),
            "server_busy_threads": busy_threads(self.threads0, thread_cpu_ms(self.server_pid), elapsed_ms),
        }


def disturbed(cpu: dict) -> bool:
    """Other processes took over a tenth of the machine."""
    return cpu["other"] > 0.1 * cpu["elapsed_ms"] * NCPU


def wait_for_quiet(server_pid: int, generator_pids: list, idle_wait: float) -> bool:
    """Three seconds in a row in which other processes used at most a tenth of the machine
    (the load under way is not counted), waiting up to idle_wait seconds."""
    quiet, deadline = 0, time.monotonic() + idle_wait
    window = CPUWindow(server_pid, generator_pids)
    while quiet < 3 and time.monotonic() < deadline:
        window.start()
        time.sleep(1)
        quiet = 0 if disturbed(window.stop()) else quiet + 1
    return quiet >= 3


def settle(pid: int, limit_s: float = 60) -> None:
    """Waits until the process uses under 5 % of a core (work left over from a phase)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = process_cpu_ms(pid)
        time.sleep(0.5)
        if process_cpu_ms(pid) - before <= 25:
            return
    progress(f"the server (pid {pid}) is still busy after {limit_s:.0f} s")


def percentile(sorted_values, fraction: float):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


# ---------------------------------------------------------------------------------------------
# setup: calls and sessions through the API

class Client:
    """One keep-alive HTTPS (or HTTP) connection to the server."""

    def __init__(self, base: str, ca: str | None):
        parts = urlsplit(base)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=ca)
            self.connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=30)
        else:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def post(self, path: str, body: dict, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in range(20):
            self.connection.request("POST", path, json.dumps(body), headers)
            response = self.connection.getresponse()
            data = response.read()
            if response.status == 429 and attempt < 19:  # throttled: wait and try again
                time.sleep(0.5)
                continue
            if response.status not in (200, 201):
                raise RuntimeError(f"POST {path}: {response.status} {data[:300]!r}")
            return json.loads(data)
        raise AssertionError("unreachable")


def command_setup(arguments) -> int:
    only_loopback(arguments.base)
    admin = Client(arguments.base, arguments.ca)
    token = admin.post("/api/v2/auth", {"email": arguments.email, "password": arguments.password})["access_token"]
    local = threading.local()

    def room(_index: int) -> list:
        if not hasattr(local, "client"):
            local.client = Client(arguments.base, arguments.ca)
        call = local.client.post("/api/v2/calls", {
            "duration": 60, "call_type": "tan", "tan_username": "A", "additional_callees": [{"name": "B"}],
        }, token)["data"]
        tans = [user["tan"] for user in call["users"] if user.get("role_name") == "tanuser" and user.get("tan")]
        if len(tans) != 2:
            raise RuntimeError(f"call {call['id']} has {len(tans)} TAN users, not 2")
        return [local.client.post("/video/api/session", {"call_id": call["id"], "tan": tan})["token"] for tan in tans]

    started = time.monotonic()
    pairs = []
    with ThreadPoolExecutor(arguments.threads) as pool:
        for index, pair in enumerate(pool.map(room, range(arguments.rooms)), 1):
            pairs.append(pair)
            if index % 500 == 0 or index == arguments.rooms:
                progress(f"{index} calls, {2 * index} sessions ({time.monotonic() - started:.1f} s)")
    with open(arguments.out, "w") as file:
        json.dump(pairs, file)
    return 0


# ---------------------------------------------------------------------------------------------
# The reference relay

def command_reference(arguments) -> int:
    with open(arguments.tokens) as file:
        room_of = {token: index for index, pair in enumerate(json.load(file)) for token in pair}
    rooms: dict = {}  # room index -> {peer_id: connection}
    alphabet = string.ascii_letters + string.digits
    rate, burst = 50.0, 100.0

    async def handler(connection):
        if connection.request.path != "/video/signal":
            await connection.close(1008, "unknown path")
            return
        peer_id, room, tokens, updated = None, None, burst, time.monotonic()
        try:
            async for text in connection:
                # The same token bucket as the server (50/s sustained, bursts of 100).
                now = time.monotonic()
                tokens = min(burst, tokens + (now - updated) * rate)
                updated = now
                if tokens < 1:
                    await connection.close(1008, "rate limit exceeded")
                    return
                tokens -= 1
                try:
                    message = json.loads(text)
                    kind = message["type"]
                except (ValueError, KeyError, TypeError):
                    await connection.send(json.dumps({"type": "error", "code": "bad-message", "message": "JSON"}))
                    continue
                if peer_id is None:
                    index = room_of.get(message.get("token")) if kind == "hello" else None
                    if index is None:
                        await connection.send(json.dumps({"type": "error", "code": "session-invalid", "message": "?"}))
                        await connection.close(4004, "session-invalid")
                        return
                    peer_id = "".join(secrets.choice(alphabet) for _ in range(16))
                    room = rooms.setdefault(index, {})
                    others = [{"peer_id": other, "participant": {"id": 0, "name": "?", "role": "tanuser"}}
                              for other in room]
                    room[peer_id] = connection
                    await connection.send(json.dumps({
                        "type": "welcome", "peer_id": peer_id,
                        "self": {"id": 0, "name": "?", "role": "tanuser"}, "state": "in-call",
                        "participants": others, "call": {"id": index, "status": 1},
                    }))
                    joined = json.dumps({"type": "participant-joined", "peer_id": peer_id,
                                         "participant": {"id": 0, "name": "?", "role": "tanuser"}})
                    for other, other_connection in list(room.items()):
                        if other != peer_id:
                            await other_connection.send(joined)
                elif kind == "signal":
                    target = room.get(message.get("to"))
                    if target is None or "data" not in message:
                        await connection.send(json.dumps({"type": "error", "code": "no-such-peer", "message": "?"}))
                        continue
                    await target.send(json.dumps({"type": "signal", "from": peer_id, "data": message["data"]}))
        except websockets.ConnectionClosed:
            pass
        finally:
            if room is not None:  # rooms themselves stay: at most one per token pair
                room.pop(peer_id, None)

    async def main():
        context = None
        if arguments.cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(arguments.cert, arguments.key)
        async with serve(handler, "127.0.0.1", 0, ssl=context, compression=None, max_size=64 << 10,
                         ping_interval=5, ping_timeout=12, max_queue=64, backlog=1024) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            with open(arguments.port_file + ".tmp", "w") as file:
                file.write(str(port))
            os.replace(arguments.port_file + ".tmp", arguments.port_file)
            await server.serve_forever()

    run_loop(main())
    return 0


# ---------------------------------------------------------------------------------------------
# Clients

def client_context(url: str, ca: str | None):
    if not url.startswith("wss:"):
        return None
    return ssl.create_default_context(cafile=ca)


async def open_client(url: str, context, token: str) -> tuple:
    """Connects, says hello and waits for the welcome: (connection, peer_id)."""
    connection = await connect(url, ssl=context, compression=None, ping_interval=None, ping_timeout=None,
                               close_timeout=5, open_timeout=60, max_size=1 << 20, max_queue=256)
    await connection.send(json.dumps({"type": "hello", "token": token}))
    while True:
        message = json.loads(await asyncio.wait_for(connection.recv(), 30))
        if message.get("type") == "welcome":
            return connection, message["peer_id"]
        if message.get("type") == "error":
            raise RuntimeError(f"hello refused: {message}")


async def open_all(url: str, context, tokens: list, concurrency: int, label: str) -> list:
    semaphore = asyncio.Semaphore(concurrency)
    opened = 0
    started = time.monotonic()

    async def one(token):
        nonlocal opened
        async with semaphore:
            result = await open_client(url, context, token)
        opened += 1
        if opened % 1000 == 0 or opened == len(tokens):
            progress(f"{label}{opened} of {len(tokens)} connected and welcomed ({time.monotonic() - started:.1f} s)")
        return result

    return await asyncio.gather(*(one(token) for token in tokens))


def load_pairs(path: str, skip: int, rooms: int) -> list:
    """Rooms skip .. skip + rooms - 1 of a setup file (each phase takes rooms of its own)."""
    with open(path) as file:
        pairs = json.load(file)
    if len(pairs) < skip + rooms:
        sys.exit(f"signaling_load: {path} has {len(pairs)} rooms, not {skip} + {rooms}")
    return pairs[skip:skip + rooms]


def emit(arguments, result: dict) -> None:
    with open(arguments.results, "a") as file:
        file.write(json.dumps(result) + "\n")


# ---------------------------------------------------------------------------------------------
# idle

def command_idle(arguments) -> int:
    only_loopback(arguments.url)
    pairs = load_pairs(arguments.tokens, arguments.skip, arguments.rooms)
    tokens = [token for pair in pairs for token in pair]
    context = client_context(arguments.url, arguments.ca)
    pid = arguments.server_pid
    result = {"phase": "idle", "server": arguments.server, "transport": arguments.transport,
              "connections": len(tokens), "hold_s": arguments.hold}

    def hold_percent() -> float:
        return 100 * result["cpu_hold_ms"]["server"] / result["cpu_hold_ms"]["elapsed_ms"]

    async def main():
        settle(pid)
        result["memory_before_kib"] = memory_kib(pid)
        window = CPUWindow(pid, [os.getpid()])
        window.start()
        started = time.monotonic()
        pairs_opened = await open_all(arguments.url, context, tokens, arguments.concurrency, "")
        result["connect_s"] = round(time.monotonic() - started, 2)
        result["cpu_connect_ms"] = window.stop()
        clients = [connection for connection, _ in pairs_opened]
        closes: dict = {}

        async def drain(connection):  # reads (and drops) whatever arrives; pings are answered
            try:
                async for _ in connection:
                    pass
            except websockets.ConnectionClosed:
                pass
            code = connection.close_code
            closes[code] = closes.get(code, 0) + 1

        readers = [asyncio.create_task(drain(connection)) for connection in clients]
        await asyncio.sleep(1)
        result["memory_connected_kib"] = memory_kib(pid)
        window.start()
        progress(f"holding {len(clients)} idle connections for {arguments.hold:.0f} s")
        await asyncio.sleep(arguments.hold)
        result["cpu_hold_ms"] = window.stop()
        result["memory_held_kib"] = memory_kib(pid)
        result["closed_by_server_during_hold"] = sum(closes.values())
        result["close_codes_during_hold"] = {str(code): count for code, count in closes.items()}
        before, held = result["memory_before_kib"], result["memory_held_kib"]
        progress(f"server RSS {before['VmRSS'] / 1024:.1f} MiB before, {held['VmRSS'] / 1024:.1f} MiB with "
                 f"{len(clients)} connections ({(held['VmRSS'] - before['VmRSS']) / len(clients):.1f} KiB each), "
                 f"{held['fds'] - before['fds']} more descriptors; CPU {hold_percent():.1f}% of a core while idle")
        progress(f"closing them ({result['closed_by_server_during_hold']} closed by the server during the hold)")
        semaphore = asyncio.Semaphore(arguments.concurrency)

        async def close(connection):
            async with semaphore:
                await connection.close(1000, "bench done")

        await asyncio.gather(*(close(connection) for connection in clients))
        await asyncio.gather(*readers)
        settle(pid)
        await asyncio.sleep(2)
        result["memory_after_close_kib"] = memory_kib(pid)

    run_loop(main())
    before, held = result["memory_before_kib"], result["memory_held_kib"]
    count = result["connections"]
    result["rss_per_connection_kib"] = round((held["VmRSS"] - before["VmRSS"]) / count, 2)
    if "Pss" in held and "Pss" in before:
        result["pss_per_connection_kib"] = round((held["Pss"] - before["Pss"]) / count, 2)
    result["fds_per_connection"] = round((held["fds"] - before["fds"]) / count, 2)
    hold_cpu = result["cpu_hold_ms"]
    result["server_cpu_percent_idle"] = round(100 * hold_cpu["server"] / hold_cpu["elapsed_ms"], 2)
    result["valid_hold"] = not disturbed(hold_cpu)
    progress(f"server RSS {result['memory_after_close_kib']['VmRSS'] / 1024:.1f} MiB after closing them")
    emit(arguments, result)
    return 0


# ---------------------------------------------------------------------------------------------
# relay

CANDIDATE = {  # a typical trickled ICE candidate, as the browser client sends it
    "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 192.168.1.20 "
                 "rport 46154 generation 0 ufrag EsAw network-cost 999",
    "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "EsAw",
}


def relay_worker(arguments, pairs: list, ready, control, results, worker_index: int) -> None:
    """One generator process: its rooms' clients, sending and receiving until told to stop."""
    context = client_context(arguments.url, arguments.ca)
    per_socket = arguments.rate / (2 * arguments.rooms)
    interval_ns = int(1e9 / per_socket)
    sent_at = array.array("q")        # send time of every message
    received_sent_at = array.array("q")  # send time of every message received ...
    latency = array.array("q")        # ... and its one-way latency (ns)
    counters = {"skipped": 0, "errors": 0, "foreign": 0}
    closes: dict = {}

    async def main():
        tokens = [token for pair in pairs for token in pair]
        opened = await open_all(arguments.url, context, tokens, arguments.concurrency,
                                f"[generator {worker_index}] ")
        clients = []
        for index in range(0, len(opened), 2):
            (a, a_id), (b, b_id) = opened[index], opened[index + 1]
            clients += [(a, b_id), (b, a_id)]
        ready.put(worker_index)
        while control["start_ns"] == 0:
            await asyncio.sleep(0.02)
        start_ns = control["start_ns"]
        stopping = asyncio.Event()

        async def sender(connection, partner: str):
            offset = random.randrange(interval_ns)
            k = 0
            sequence = 0
            data = {"candidate": CANDIDATE, "bench": {"t": 0, "n": 0}}
            message = {"type": "signal", "to": partner, "data": data}
            while not stopping.is_set():
                due = start_ns + offset + k * interval_ns
                now = time.monotonic_ns()
                if due > now:
                    await asyncio.sleep((due - now) / 1e9)
                    if stopping.is_set():
                        break
                elif now - due > 100_000_000:
                    # Far behind (the generator is saturated): skip the missed slots rather than
                    # bursting, which would trip the server's rate limit.
                    missed = (now - due) // interval_ns
                    counters["skipped"] += missed
                    k += missed
                k += 1
                sequence += 1
                t = time.monotonic_ns()
                data["bench"]["t"] = t
                data["bench"]["n"] = sequence
                try:
                    await connection.send(json.dumps(message))
                except websockets.ConnectionClosed:
                    return
                sent_at.append(t)

        async def receiver(connection):
            try:
                async for text in connection:
                    now = time.monotonic_ns()
                    message = json.loads(text)
                    if message.get("type") == "signal":
                        t = message["data"]["bench"]["t"]
                        received_sent_at.append(t)
                        latency.append(now - t)
                    elif message.get("type") == "error":
                        counters["errors"] += 1
                    else:
                        counters["foreign"] += 1
            except websockets.ConnectionClosed:
                pass
            # Every close but the bench's own (1000 once stopping; the server echoes it).
            code = connection.close_code
            if not stopping.is_set() or code != 1000:
                closes[str(code)] = closes.get(str(code), 0) + 1

        readers = [asyncio.create_task(receiver(connection)) for connection, _ in clients]
        senders = [asyncio.create_task(sender(connection, partner)) for connection, partner in clients]
        while not control["stop"]:
            await asyncio.sleep(0.02)
        stopping.set()
        await asyncio.gather(*senders, return_exceptions=True)
        await asyncio.sleep(arguments.drain)  # the last messages in flight arrive
        semaphore = asyncio.Semaphore(arguments.concurrency)

        async def close(connection):
            async with semaphore:
                await connection.close(1000, "bench done")

        await asyncio.gather(*(close(connection) for connection, _ in clients), return_exceptions=True)
        await asyncio.gather(*readers, return_exceptions=True)

    try:
        run_loop(main())
        results.put((worker_index, sent_at.tobytes(), received_sent_at.tobytes(), latency.tobytes(), counters, closes,
                     None))
    except Exception as error:  # reported by the parent
        results.put((worker_index, b"", b"", b"", counters, closes, f"{type(error).__name__}: {error}"))
        try:
            ready.put(worker_index)
        except Exception:
            pass


def command_relay(arguments) -> int:
    only_loopback(arguments.url)
    pairs = load_pairs(arguments.tokens, arguments.skip, arguments.rooms)
    per_socket = arguments.rate / (2 * arguments.rooms)
    if per_socket > 45:
        sys.exit(f"signaling_load: {per_socket:.1f} messages/s per socket is too close to the server's limit of 50/s; "
                 "use more rooms")
    procs = max(1, min(arguments.procs, len(pairs)))
    manager = multiprocessing.Manager()
    control = manager.dict(start_ns=0, stop=False)
    ready, results = multiprocessing.Queue(), multiprocessing.Queue()
    shares = [pairs[index::procs] for index in range(procs)]
    workers = [multiprocessing.Process(target=relay_worker, args=(arguments, share, ready, control, results, index),
                                       daemon=True) for index, share in enumerate(shares)]
    for worker in workers:
        worker.start()
    result = {"phase": arguments.phase, "server": arguments.server, "transport": arguments.transport,
              "rooms": len(pairs), "sockets": 2 * len(pairs), "offered_rate": arguments.rate,
              "per_socket_rate": round(per_socket, 2), "generator_processes": procs,
              "duration_s": arguments.duration, "warmup_s": arguments.warmup}
    try:
        deadline = time.monotonic() + 120
        for _ in workers:
            ready.get(timeout=max(1, deadline - time.monotonic()))
        pid = arguments.server_pid
        generator_pids = [os.getpid()] + [worker.pid for worker in workers]
        settle(pid)
        progress(f"{len(pairs)} rooms connected; sending {arguments.rate:g} messages/s in all "
                 f"({per_socket:.1f}/s per socket): warm-up {arguments.warmup:g} s, then {arguments.duration:g} s")
        control["start_ns"] = time.monotonic_ns() + 100_000_000
        time.sleep(0.1 + arguments.warmup)
        window = CPUWindow(pid, generator_pids)
        attempts = []
        for attempt in range(1, arguments.attempts + 1):
            window.start()
            t0 = time.monotonic_ns()
            time.sleep(arguments.duration)
            t1 = time.monotonic_ns()
            cpu = window.stop()
            attempts.append((t0, t1, cpu))
            if not disturbed(cpu) or attempt == arguments.attempts:
                break
            progress(f"other processes used {100 * cpu['other'] / (cpu['elapsed_ms'] * NCPU):.0f}% of the machine: "
                     f"repeating (attempt {attempt + 1} of {arguments.attempts})")
            wait_for_quiet(pid, generator_pids, arguments.idle_wait)
        control["stop"] = True
        collected = [results.get(timeout=60 + arguments.drain) for _ in workers]
    finally:
        control["stop"] = True
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
        manager.shutdown()
    failures = [error for *_, error in collected if error]
    if failures:
        sys.exit(f"signaling_load: generator failed: {failures[0]}")

    t0, t1, cpu = attempts[-1]
    sent_total, in_window_sent, samples = 0, 0, []
    counters_total: dict = {}
    closes_total: dict = {}
    for _, sent_bytes, received_bytes, latency_bytes, counters, closes, _ in collected:
        sent = array.array("q", sent_bytes)
        received = array.array("q", received_bytes)
        latencies = array.array("q", latency_bytes)
        sent_total += len(sent)
        in_window_sent += sum(1 for t in sent if t0 <= t < t1)
        samples += [latency for t, latency in zip(received, latencies) if t0 <= t < t1]
        for key, value in counters.items():
            counters_total[key] = counters_total.get(key, 0) + value
        for key, value in closes.items():
            closes_total[key] = closes_total.get(key, 0) + value
    samples.sort()
    seconds = (t1 - t0) / 1e9
    result.update({
        "attempts": len(attempts),
        "measured_s": round(seconds, 3),
        "sent": in_window_sent,
        "received": len(samples),
        "lost": in_window_sent - len(samples),
        "sent_per_sec": round(in_window_sent / seconds, 1),
        "relayed_per_sec": round(len(samples) / seconds, 1),
        "latency_ms": {name: round(percentile(samples, fraction) / 1e6, 3) if samples else None
                       for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999),
                                              ("max", 1.0))},
        "cpu_ms": {key: cpu[key] for key in ("elapsed_ms", "server", "generator", "other")},
        "server_busy_threads": cpu["server_busy_threads"],
        "server_cpu_us_per_message": round(cpu["server"] * 1000 / len(samples), 2) if samples else None,
        "generator_cpu_us_per_message": round(cpu["generator"] * 1000 / len(samples), 2) if samples else None,
        "server_cpu_percent": round(100 * cpu["server"] / cpu["elapsed_ms"], 1),
        "skipped_send_slots": counters_total.get("skipped", 0),
        "error_messages": counters_total.get("errors", 0),
        "closed_by_server": closes_total,
        "disturbed": disturbed(cpu),
        "messages_sent_total": sent_total,
    })
    if samples:
        result["latency_ms"]["mean"] = round(sum(samples) / len(samples) / 1e6, 3)
    latency = result["latency_ms"]
    progress(f"{result['relayed_per_sec']:.0f} messages/s relayed (sent {result['sent_per_sec']:.0f}/s, lost "
             f"{result['lost']}); latency p50 {latency['p50']} ms, p99 {latency['p99']} ms, max {latency['max']} ms; "
             f"CPU ms: server {cpu['server']} ({result['server_cpu_us_per_message']} us/msg), generator "
             f"{cpu['generator']}, anything else {cpu['other']}")
    if cpu["server_busy_threads"]:
        progress("server threads above 10% of a core: " + ", ".join(
            f"{row['name']} {row['cpu_percent']}%" for row in cpu["server_busy_threads"]))
    emit(arguments, result)
    return 0


# ---------------------------------------------------------------------------------------------
# report

def command_report(arguments) -> int:
    results = []
    for path in arguments.results:
        with open(path) as file:
            results += [json.loads(line) for line in file if line.strip()]
    meta = dict(item.split("=", 1) for item in arguments.meta)
    problems, warnings = [], []

    def find(phase, server, transport):
        return next((r for r in results if r["phase"] == phase and r["server"] == server
                     and r["transport"] == transport), None)

    comparisons = []
    for result in results:
        where = f"{result['phase']} on {result['server']} ({result['transport']})"
        if result["phase"] == "idle":
            if result["closed_by_server_during_hold"]:
                problems.append(f"{where}: {result['closed_by_server_during_hold']} idle connections were closed by "
                                f"the server ({result['close_codes_during_hold']})")
            if not result["valid_hold"]:
                warnings.append(f"{where}: other processes used the CPU during the hold")
        else:
            if result["closed_by_server"]:
                problems.append(f"{where}: the server closed sockets {result['closed_by_server']}")
            if result["error_messages"]:
                problems.append(f"{where}: {result['error_messages']} error messages from the server")
            if not result["received"]:
                problems.append(f"{where}: nothing relayed")
            elif result["lost"] > max(10, result["sent"] // 1000):
                problems.append(f"{where}: {result['lost']} of {result['sent']} messages not relayed")
            if result["disturbed"]:
                warnings.append(f"{where}: other processes used over 10% of the CPU during the run")
            if result["phase"] != "saturation" and result["relayed_per_sec"] < 0.95 * result["offered_rate"]:
                warnings.append(f"{where}: relayed {result['relayed_per_sec']:.0f}/s of {result['offered_rate']:g}/s "
                                "offered (the generator or the server could not keep up)")
    for result in results:
        if result["server"] != "sprechstunde":
            continue
        reference = find(result["phase"], "reference", result["transport"])
        if reference is None:
            continue
        entry = {"phase": result["phase"], "transport": result["transport"]}
        if result["phase"] == "idle":
            entry["rss_per_connection_ratio"] = round(result["rss_per_connection_kib"] /
                                                      reference["rss_per_connection_kib"], 3) \
                if reference["rss_per_connection_kib"] > 0 else None
        elif result["received"] and reference["received"]:
            entry["relayed_per_sec_ratio"] = round(result["relayed_per_sec"] / reference["relayed_per_sec"], 3)
            entry["p50_ratio"] = round(result["latency_ms"]["p50"] / reference["latency_ms"]["p50"], 3)
            entry["p99_ratio"] = round(result["latency_ms"]["p99"] / reference["latency_ms"]["p99"], 3)
            if result["server_cpu_us_per_message"] and reference["server_cpu_us_per_message"]:
                entry["cpu_per_message_ratio"] = round(result["server_cpu_us_per_message"] /
                                                       reference["server_cpu_us_per_message"], 3)
        comparisons.append(entry)

    goals = []
    idle = find("idle", "sprechstunde", "tls")
    if idle:
        held_mib = (idle["memory_held_kib"]["VmRSS"] - idle["memory_before_kib"]["VmRSS"]) / 1024
        projected = idle["rss_per_connection_kib"] * 5000 / 1024
        goals.append({"aim": "5,000 idle connections in under 100 MB of server memory (TLS)",
                      "connections": idle["connections"], "rss_growth_mib": round(held_mib, 1),
                      "rss_total_mib": round(idle["memory_held_kib"]["VmRSS"] / 1024, 1),
                      "projected_5000_mib": round(projected, 1),
                      "met": idle["memory_held_kib"]["VmRSS"] / 1024 < 100 * 1e6 / 2**20 and
                      idle["connections"] >= 5000})
    relay = find("relay", "sprechstunde", "tls")
    if relay and relay["received"]:
        goals.append({"aim": "p99 relay latency under 5 ms at 2,000 messages/s (TLS)",
                      "relayed_per_sec": relay["relayed_per_sec"], "p99_ms": relay["latency_ms"]["p99"],
                      "met": relay["latency_ms"]["p99"] < 5 and relay["relayed_per_sec"] >= 0.95 * 2000
                      and relay["offered_rate"] >= 2000})

    document = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": meta,
        "results": results,
        "comparisons": comparisons,
        "goals": goals,
        "valid": not problems,
        "problems": problems,
        "warnings": warnings,
    }
    with open(arguments.out, "w") as file:
        json.dump(document, file, indent=2)
        file.write("\n")

    print()
    print(f"{'idle connections':<22} {'server':<13} {'conns':>6} {'RSS before':>11} {'RSS held':>10} "
          f"{'KiB/conn':>9} {'PSS KiB/c':>9} {'fd/conn':>7} {'idle CPU':>9} {'after close':>11} {'ratio':>6}")
    print("-" * 124)
    for result in results:
        if result["phase"] != "idle":
            continue
        comparison = next((c for c in comparisons if c["phase"] == "idle" and c["transport"] == result["transport"]),
                          None)
        ratio = comparison.get("rss_per_connection_ratio") if comparison and result["server"] == "sprechstunde" else None
        print(f"{result['transport']:<22} {result['server']:<13} {result['connections']:>6} "
              f"{result['memory_before_kib']['VmRSS'] / 1024:>8.1f}MiB {result['memory_held_kib']['VmRSS'] / 1024:>7.1f}MiB "
              f"{result['rss_per_connection_kib']:>9.1f} {result.get('pss_per_connection_kib', 0):>9.1f} "
              f"{result['fds_per_connection']:>7.1f} {result['server_cpu_percent_idle']:>8.1f}% "
              f"{result['memory_after_close_kib']['VmRSS'] / 1024:>8.1f}MiB {ratio if ratio is not None else '':>6}")
    print()
    print(f"{'relay':<22} {'server':<13} {'rooms':>6} {'offered':>8} {'relayed/s':>10} {'p50':>8} {'p99':>8} "
          f"{'max':>8} {'srv CPU':>8} {'us/msg':>7} {'gen us/msg':>10} {'ratio/s':>8} {'ratio p99':>9}")
    print("-" * 124)
    for result in results:
        if result["phase"] == "idle":
            continue
        comparison = next((c for c in comparisons if c["phase"] == result["phase"]
                           and c["transport"] == result["transport"]), None)
        ours = comparison if comparison and result["server"] == "sprechstunde" else {}
        latency = result["latency_ms"]

        def ms(value):
            return f"{value:.2f}ms" if value is not None else "-"

        print(f"{result['phase'] + ' (' + result['transport'] + ')':<22} {result['server']:<13} {result['rooms']:>6} "
              f"{result['offered_rate']:>8.0f} {result['relayed_per_sec']:>10.0f} {ms(latency['p50']):>8} "
              f"{ms(latency['p99']):>8} {ms(latency['max']):>8} {result['server_cpu_percent']:>7.0f}% "
              f"{result['server_cpu_us_per_message'] or 0:>7.1f} {result['generator_cpu_us_per_message'] or 0:>10.1f} "
              f"{ours.get('relayed_per_sec_ratio', ''):>8} {ours.get('p99_ratio', ''):>9}".rstrip())
    print()
    for goal in goals:
        figures = ", ".join(f"{key} {value}" for key, value in goal.items() if key not in ("aim", "met"))
        print(f"Goal: {goal['aim']}: {'MET' if goal['met'] else 'NOT MET'} ({figures})")
    for warning in warnings:
        print(f"WARNING: {warning}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"Results: {arguments.out}")
    return 3 if problems else 0


# ---------------------------------------------------------------------------------------------

def main() -> int:
    # SIGTERM (the script's clean-up) ends the process through the finally blocks, which stop
    # the generator's worker processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    setup = commands.add_parser("setup")
    setup.add_argument("--base", required=True)
    setup.add_argument("--ca")
    setup.add_argument("--email", required=True)
    setup.add_argument("--password", required=True)
    setup.add_argument("--rooms", type=int, required=True)
    setup.add_argument("--threads", type=int, default=4)
    setup.add_argument("--out", required=True)

    reference = commands.add_parser("reference")
    reference.add_argument("--tokens", required=True)
    reference.add_argument("--port-file", required=True)
    reference.add_argument("--cert")
    reference.add_argument("--key")

    def client_options(sub):
        sub.add_argument("--url", required=True)
        sub.add_argument("--ca")
        sub.add_argument("--tokens", required=True)
        sub.add_argument("--rooms", type=int, required=True)
        sub.add_argument("--skip", type=int, default=0, help="rooms of the setup file to leave out first")
        sub.add_argument("--results", required=True, help="file the phase's JSON line is appended to")
        sub.add_argument("--server-pid", type=int, required=True)
        sub.add_argument("--server", required=True, help="label: sprechstunde or reference")
        sub.add_argument("--transport", required=True, help="label: tls or plain")
        sub.add_argument("--concurrency", type=int, default=64, help="connections opened at once")

    idle = commands.add_parser("idle")
    client_options(idle)
    idle.add_argument("--hold", type=float, default=20)

    relay = commands.add_parser("relay")
    client_options(relay)
    relay.add_argument("--phase", default="relay")
    relay.add_argument("--rate", type=float, required=True, help="messages/s offered in all")
    relay.add_argument("--duration", type=float, default=10)
    relay.add_argument("--warmup", type=float, default=3)
    relay.add_argument("--drain", type=float, default=2)
    relay.add_argument("--procs", type=int, default=1)
    relay.add_argument("--attempts", type=int, default=3)
    relay.add_argument("--idle-wait", type=float, default=120)

    report = commands.add_parser("report")
    report.add_argument("--out", required=True)
    report.add_argument("--meta", action="append", default=[])
    report.add_argument("results", nargs="+")

    arguments = parser.parse_args()
    handler = {"setup": command_setup, "reference": command_reference, "idle": command_idle,
               "relay": command_relay, "report": command_report}[arguments.command]
    return handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
