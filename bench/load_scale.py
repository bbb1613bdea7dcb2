"""The mixed load against one tracker instance and against two, same machine, same run.

What does a second instance buy? Both sides get the clinic's morning of bench/load_mixed.py
(bench/lua/mixed.lua: 25 % PHQ-9 submissions, 35 % trend reads, 35 % FHIR searches, 5 %
logins) with the same number of connections, on one throwaway PostgreSQL 15 and one Redis
(rate-limit counters, as in production with REDIS_URL). An instance is what load_mixed.py
serves: gunicorn with 2 workers (4 threads each, gunicorn.conf.py) and production settings.
"Two" means two such gunicorns on two ports, each driven by its own wrk with half the
connections (as a load balancer would split them; no balancer process takes CPU from the
servers). One session cookie, CSRF token and bearer token serve both: nothing of a login
lives in an instance.

Runs alternate one, two, one, two … one, so both sides see the same background load; the
figure is the ratio of requests per second (each "two" run against the mean of the "one"
runs on either side of it; the median of those) and the error count, which must be 0.
Needs wrk and redis-server (apt-get install wrk redis-server).

    .venv/bin/python bench/load_scale.py                  # 5 runs of 30 s: 1, 2, 1, 2, 1
    .venv/bin/python bench/load_scale.py --rounds 3 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load, machine  # noqa: E402
from load_mixed import (  # noqa: E402
    PASSWORD,
    ROOT,
    free_port,
    gunicorn,
    prepare,
    session_for,
    throwaway_postgres,
    token_for,
)

REDIS_SERVER = os.environ.get("TRACKER_REDIS_SERVER", "/usr/bin/redis-server")


@contextmanager
def throwaway_redis() -> Iterator[str]:
    """A redis-server on a free port, no persistence; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
        + ["no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return own + sum(process_cpu(int(child)) for child in children)


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, everyone's work included."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def drive(
    bases: list[str],
    servers: list[int],
    connections: int,
    seconds: int,
    wrk_env: dict,
    label: str,
) -> dict:
    """One wrk per instance, all at once, connections split evenly; summed figures, and the
    CPU the gunicorns used (``servers``: their pids) against what the machine did."""
    share = connections // len(bases)
    cpu_before = sum(process_cpu(pid) for pid in servers)
    busy_before, total_before = machine_busy()
    runs = [
        subprocess.Popen(
            [
                "wrk",
                "-t1" if share < 4 else "-t2",
                f"-c{share}",
                f"-d{seconds}s",
                "--timeout",  # a slow answer under others' load is latency, not an error
                "30s",
                "--latency",
                "-s",
                str(ROOT / "bench/lua/mixed.lua"),
                base,
            ],
            env=dict(wrk_env, LOAD_KEY_PREFIX=f"{label}-{n}"),  # Idempotency-Keys never repeat
            stdout=subprocess.PIPE,
            text=True,
        )
        for n, base in enumerate(bases)
    ]
    parts = []
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        parts.append(
            {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", out.split("RESULT")[1])}
        )
    server_cpu = sum(process_cpu(pid) for pid in servers) - cpu_before
    busy_after, total_after = machine_busy()
    requests_done = sum(p["requests"] for p in parts)
    return {
        "instances": len(bases),
        "requests": int(sum(p["requests"] for p in parts)),
        "requests_per_s": round(sum(p["rps"] for p in parts), 1),
        "p50_ms": round(max(p["p50_ms"] for p in parts), 1),  # the slower instance's
        "p99_ms": round(max(p["p99_ms"] for p in parts), 1),
        "errors": int(sum(p["socket_or_status_errors"] for p in parts)),
        "non_2xx": int(sum(p["non_2xx"] for p in parts)),
        # Cores the gunicorns kept busy, their CPU per request, and the whole machine's use.
        "server_cores_busy": round(server_cpu / seconds, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / max(requests_done, 1), 1),
        "machine_busy_percent": round(
            100 * (busy_after - busy_before) / max(total_after - total_before, 1), 1
        ),
        "load_average": load(),
    }


def run(database_url: str, redis_url: str, args: argparse.Namespace) -> dict:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        TRACKER_ENV="production",
        SECRET_KEY="load-test-secret",
        LOGIN_RATE_LIMIT="100000/minute",
    )
    prepare(env, args.patients)
    rounds: list[dict] = []
    with gunicorn(env, args.workers) as first, gunicorn(env, args.workers) as second:
        a, a_pid, b, b_pid = first.base, first.pid, second.base, second.pid
        cookie, csrf = session_for(a)  # one login serves both instances
        wrk_env = dict(
            os.environ,
            LOAD_COOKIE=cookie,
            LOAD_CSRF=csrf,
            LOAD_TOKEN=token_for(env, b),
            LOAD_PATIENTS=str(args.patients),
            LOAD_EMAIL="load.admin@example.test",
            LOAD_PASSWORD=PASSWORD,
        )
        # one, two, one, two, …, one: every "two" run sits between two "one" runs.
        sides = [([a], [a_pid]), ([a, b], [a_pid, b_pid])] * args.rounds + [([a], [a_pid])]
        for n, (bases, servers) in enumerate(sides):
            label = f"r{n}i{len(bases)}"
            figures = drive(bases, servers, args.connections, args.seconds, wrk_env, label)
            print(json.dumps(figures), flush=True)
            rounds.append(figures)
    tracebacks = first.tracebacks() + second.tracebacks()
    for instance in (first, second):
        instance.stderr.unlink()
    one = [r for r in rounds if r["instances"] == 1]
    two = [r for r in rounds if r["instances"] == 2]
    one_rps = round(statistics.median(r["requests_per_s"] for r in one), 1)
    two_rps = round(statistics.median(r["requests_per_s"] for r in two), 1)
    # Each "two" against the mean of the "one" runs just before and after it: a load that
    # drifts during the run (other people's work) cancels out of the ratio.
    ratios = [
        t["requests_per_s"] / ((before["requests_per_s"] + after["requests_per_s"]) / 2)
        for before, t, after in zip(one, two, one[1:], strict=False)
    ]
    return {
        "backend": "postgresql",
        "machine": machine(),
        "seconds_per_round": args.seconds,
        "connections": args.connections,
        "gunicorn_workers_per_instance": args.workers,
        "patients": args.patients,
        "mix": "25% submit, 35% trend, 35% FHIR search, 5% login",
        "one_instance_rps": one_rps,
        "two_instances_rps": two_rps,
        "ratio_two_over_one": round(statistics.median(ratios), 2),
        "ratios_per_round": [round(r, 2) for r in ratios],
        "errors": sum(r["errors"] + r["non_2xx"] for r in rounds),
        "server_tracebacks": tracebacks,
        "rounds": rounds,
    }


def table_sizes(database_url: str) -> dict:
    """Rows and on-disk bytes (heap, indexes, TOAST) of the tables that grow: what one
    response and one audit event cost, to size a database of ten million."""
    import psycopg

    sizes = {}
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        for table in ("response", "audit_event"):
            conn.execute(f"ANALYZE {table}")
            rows, size = conn.execute(
                f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}"
            ).fetchone()
            sizes[table] = {"rows": rows, "bytes": size, "bytes_per_row": round(size / rows)}
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    args = parser.parse_args()
    with throwaway_postgres() as database_url, throwaway_redis() as redis_url:
        result = run(database_url, redis_url, args)
        result["tables_after_run"] = table_sizes(database_url)
    print(
        f"one instance {result['one_instance_rps']} req/s, two {result['two_instances_rps']} "
        f"req/s: ratio {result['ratio_two_over_one']}; errors {result['errors']}"
    )
    results = Path(os.environ.get("TRACKER_BENCH_RESULTS", ROOT / "bench/results"))
    out = results / "load_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
