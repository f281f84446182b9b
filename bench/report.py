#!/usr/bin/env python3
"""Reads wrk outputs, prints the comparison table and writes it as JSON.

Usage: report.py --out FILE [--meta KEY=VALUE ...] [--goal ENDPOINT SPEC]
                 --run ENDPOINT SERVER WRK_OUTPUT CPU [--run ...]

SERVER is "sprechstunde" or "nginx"; the ratio is Sprechstunde / nginx per endpoint.
CPU is "server=MS,wrk=MS,other=MS[,busy_threads=N]": CPU milliseconds during the run of the
server's processes, of wrk, and of everything else on the machine, and how many of the server's
threads used more than a tenth of a core ("" if unknown).
SPEC is the aim for Sprechstunde on ENDPOINT (see bench/README.md), any of
"min_rps_ratio=0.25" (of nginx's req/s), "max_p99_ms=10", "min_rps=3000", comma-separated.
Exit status 3 when a run cannot be trusted (unparsable output, non-2xx responses, or socket
errors other than a handful at the end), after writing everything.
"""

import argparse
import datetime
import json
import re
import sys

GOAL_KEYS = ("min_rps_ratio", "max_p99_ms", "min_rps")

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def parse_wrk(text: str) -> dict:
    """The figures of one `wrk --latency` output; raises ValueError when they are missing."""
    result: dict = {}
    match = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not match:
        raise ValueError("no 'Requests/sec' line")
    result["requests_per_sec"] = float(match.group(1))
    # wrk pads durations of a second or more with a space: "1.69s ".
    percentiles = {f"p{p}": milliseconds(value) for p, value in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.M)}
    if "p99" not in percentiles:
        raise ValueError("no latency distribution (was --latency given?)")
    result["latency_ms"] = percentiles
    match = re.search(r"^\s+(\d+) threads and (\d+) connections", text, re.M)
    if match:
        result["threads"], result["connections"] = int(match.group(1)), int(match.group(2))
    match = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if match:
        result["latency_ms"].update(avg=milliseconds(match.group(1)), max=milliseconds(match.group(3)))
    match = re.search(r"^\s+(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text, re.M)
    if match:
        result["requests"] = int(match.group(1))
        result["duration_ms"] = milliseconds(match.group(2))
        result["read"] = match.group(3)
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    keys = ("connect", "read", "write", "timeout")
    result["socket_errors"] = dict(zip(keys, map(int, match.groups()))) if match else dict.fromkeys(keys, 0)
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx_3xx"] = int(match.group(1)) if match else 0
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--goal", nargs=2, metavar=("ENDPOINT", "SPEC"))
    parser.add_argument("--run", action="append", nargs=4, required=True,
                        metavar=("ENDPOINT", "SERVER", "FILE", "CPU"))
    arguments = parser.parse_args()
    goal = None
    if arguments.goal:
        endpoint, spec = arguments.goal
        limits = {key: float(value) for key, value in (item.split("=") for item in spec.split(","))}
        if not limits or set(limits) - set(GOAL_KEYS):
            parser.error(f"--goal SPEC takes {', '.join(GOAL_KEYS)}, not {spec!r}")
        goal = {"endpoint": endpoint, **limits, "met": None}

    meta = dict(item.split("=", 1) for item in arguments.meta)
    problems: list[str] = []  # the run cannot be trusted
    warnings: list[str] = []  # the run can be trusted less
    runs = []
    for endpoint, server, path, cpu in arguments.run:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
        run = {"endpoint": endpoint, "server": server, "wrk_output": path}
        try:
            run.update(parse_wrk(text))
        except ValueError as error:
            problems.append(f"{endpoint} on {server}: cannot read wrk output ({error}); see {path}")
            runs.append(run)
            continue
        if cpu:
            run["cpu_ms"] = {key: int(value) for key, value in (item.split("=") for item in cpu.split(","))}
            if "busy_threads" in run["cpu_ms"]:
                run["server_busy_threads"] = run["cpu_ms"].pop("busy_threads")
            if run.get("requests"):
                run["server_cpu_us_per_request"] = round(run["cpu_ms"]["server"] * 1000 / run["requests"], 1)
            # More than a tenth of the machine going to something else: another build ran.
            capacity_ms = run.get("duration_ms", 0) * int(meta.get("cpus", 1))
            if capacity_ms and run["cpu_ms"]["other"] > 0.1 * capacity_ms:
                warnings.append(f"{endpoint} on {server}: {run['cpu_ms']['other'] / capacity_ms:.0%} of the CPU went "
                                f"to other processes during the run; its figures are low and noisy")
        if not run.get("requests"):
            problems.append(f"{endpoint} on {server}: no request answered within the run; see {path}")
        if run["non_2xx_3xx"]:
            problems.append(f"{endpoint} on {server}: {run['non_2xx_3xx']} non-2xx/3xx responses")
        errors = sum(run["socket_errors"].values())
        # A few read errors when wrk closes its connections at the end are normal; more is not.
        if errors > max(10, run.get("requests", 0) // 10_000):
            problems.append(f"{endpoint} on {server}: socket errors {run['socket_errors']}")
        runs.append(run)

    comparisons = []
    endpoints = list(dict.fromkeys(run["endpoint"] for run in runs))
    for endpoint in endpoints:
        by_server = {run["server"]: run for run in runs if run["endpoint"] == endpoint}
        ours, theirs = by_server.get("sprechstunde", {}), by_server.get("nginx", {})
        if "requests_per_sec" not in ours or "requests_per_sec" not in theirs:
            continue
        comparisons.append({
            "endpoint": endpoint,
            "rps_ratio": round(ours["requests_per_sec"] / theirs["requests_per_sec"], 4),
            "p99_ratio": round(ours["latency_ms"]["p99"] / theirs["latency_ms"]["p99"], 4),
            "sprechstunde_p99_ms": ours["latency_ms"]["p99"],
        })
        if "server_cpu_us_per_request" in ours and "server_cpu_us_per_request" in theirs:
            comparisons[-1]["cpu_per_request_ratio"] = round(
                ours["server_cpu_us_per_request"] / theirs["server_cpu_us_per_request"], 2)

    goal_run = None
    if goal:
        goal_run = next((run for run in runs if run["endpoint"] == goal["endpoint"]
                         and run["server"] == "sprechstunde" and "requests_per_sec" in run), None)
        comparison = next((c for c in comparisons if c["endpoint"] == goal["endpoint"]), None)
        if goal_run and (comparison or "min_rps_ratio" not in goal):
            goal["met"] = (goal_run["requests_per_sec"] >= goal.get("min_rps", 0)
                           and goal_run["latency_ms"]["p99"] < goal.get("max_p99_ms", float("inf"))
                           and (comparison or {}).get("rps_ratio", 1) >= goal.get("min_rps_ratio", 0))

    document = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "settings": meta,
        "runs": runs,
        "comparisons": comparisons,
        "goal": goal,
        "valid": not problems,
        "problems": problems,
        "warnings": warnings,
    }
    with open(arguments.out, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2)
        file.write("\n")

    # The table.
    width = max([32] + [len(endpoint) for endpoint in endpoints])
    print()
    print(f"{'endpoint':<{width}} {'server':<13} {'conns':>5} {'req/s':>10} {'p50':>9} {'p99':>9} {'CPU/req':>10} "
          f"{'ratio req/s':>12}")
    print("-" * (width + 73))
    for endpoint in endpoints:
        comparison = next((c for c in comparisons if c["endpoint"] == endpoint), None)
        label = endpoint  # printed on the group's first row only
        for server in ("nginx", "sprechstunde"):
            run = next((r for r in runs if r["endpoint"] == endpoint and r["server"] == server), None)
            if run is None:
                continue
            if "requests_per_sec" not in run:
                print(f"{label:<{width}} {server:<13} {'':>5} {'(failed)':>10}")
                label = ""
                continue
            ratio = f"{comparison['rps_ratio']:.3f}" if comparison and server == "sprechstunde" else ""
            cpu = run.get("server_cpu_us_per_request")
            cpu_text = f"{cpu:.0f}us" if cpu is not None else "?"
            print(f"{label:<{width}} {server:<13} {run.get('connections', '?'):>5} {run['requests_per_sec']:>10.0f} "
                  f"{run['latency_ms']['p50']:>7.2f}ms {run['latency_ms']['p99']:>7.2f}ms {cpu_text:>10} {ratio:>12}")
            label = ""
    print()
    if goal and goal["met"] is not None:
        aims, measured = [], []
        if "min_rps" in goal:
            aims.append(f">= {goal['min_rps']:g} req/s")
            measured.append(f"{goal_run['requests_per_sec']:.0f} req/s")
        if "min_rps_ratio" in goal:
            aims.append(f">= {goal['min_rps_ratio']:.0%} of nginx req/s")
            measured.append(f"{next(c for c in comparisons if c['endpoint'] == goal['endpoint'])['rps_ratio']:.1%}")
        if "max_p99_ms" in goal:
            aims.append(f"p99 < {goal['max_p99_ms']:g} ms")
        measured.append(f"p99 {goal_run['latency_ms']['p99']:.2f} ms")
        print(f"Goal for {goal['endpoint']}: {' with '.join(aims)}: {'MET' if goal['met'] else 'NOT MET'} "
              f"({', '.join(measured)})")
    for warning in warnings:
        print(f"WARNING: {warning}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"Results: {arguments.out}")
    return 3 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
