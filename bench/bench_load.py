"""Inline runs (and gateway calls) under load: 1, 20 and 200 concurrent clients.

    .venv/bin/python bench/run.py bench_load
    BENCH_LOAD_SECONDS=10 .venv/bin/python bench/bench_load.py

One uvicorn (DEBUG off) per database leg — SQLite, and PostgreSQL with the pool plus
Redis (cache, channel layer, broker) when both are reachable, as in production — in
front of the loopback vendor (bench/_vendor.py). For each number of clients it prints
the throughput, p50/p99 latency and the share of answers that were not 2xx (issue 12:
saturation must be a 503 with Retry-After, never a 500; they are counted by status).
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import _servers  # noqa: E402

CLIENTS = [int(n) for n in os.environ.get("BENCH_LOAD_CLIENTS", "1,20,200").split(",")]
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "5"))
REDIS_URL = _servers.REDIS_URL


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def load(client, method: str, url: str, body: dict, headers: dict, clients: int, seconds: float) -> str:
    latencies: list[float] = []
    statuses: collections.Counter[str] = collections.Counter()
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                response = await client.request(method, url, json=body, headers=headers)
                statuses[str(response.status_code)] += 1
            except Exception as exc:  # a refused or dropped connection counts as a failure too
                statuses[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    total = sum(statuses.values())
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    others = ", ".join(f"{status}×{n}" for status, n in sorted(statuses.items()) if not status.startswith("2"))
    return (
        f"{clients:4d} clients  {ok / elapsed:7.1f} ok/s  p50 {percentile(latencies, 0.5) * 1e3:8.1f} ms  "
        f"p99 {percentile(latencies, 0.99) * 1e3:8.1f} ms  non-2xx {(total - ok) / max(total, 1):6.1%}"
        + (f"  ({others})" if others else "")
    )


async def measure(site_url: str, token: str) -> None:
    import httpx

    auth = {"Authorization": f"Bearer {token}"}
    targets = {
        "inline run": ("POST", f"{site_url}/api/v1/runs?wait=true",
                       {"agent": "bench-agent", "task": "bench-task", "input": {"ticker": "NVDA"}}),
        "gateway": ("POST", f"{site_url}/v1/chat/completions",
                    {"model": "bench-agent", "messages": [{"role": "user", "content": "Give a signal for NVDA."}]}),
    }
    limits = httpx.Limits(max_connections=max(CLIENTS), max_keepalive_connections=max(CLIENTS))
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        probe = await client.post(targets["gateway"][1], json=targets["gateway"][2], headers=auth)
        if probe.status_code != 200:
            print(f"  gateway: not available (POST /v1/chat/completions -> {probe.status_code})")
            del targets["gateway"]
        for label, (method, url, body) in targets.items():
            for _ in range(10):  # warm-up
                await client.request(method, url, json=body, headers=auth)
            print(f"  {label}:")
            for clients in CLIENTS:
                print("    " + await load(client, method, url, body, auth, clients, SECONDS), flush=True)


def main() -> None:
    redis_ok = _servers.redis_reachable(REDIS_URL)
    with _servers.vendor() as vendor_url, _servers.database_legs() as legs:
        for name, database_url in legs:
            extra = {}
            if name.startswith("postgresql") and redis_ok:
                extra = {"REDIS_URL": REDIS_URL}
                name += " + Redis"
            print(f"--- {name}, uvicorn (DEBUG off), {SECONDS:.0f} s per step ---", flush=True)
            env = _servers.site_env(database_url, **extra)
            token = _servers.prepare_site(env, vendor_url)
            with _servers.site(env) as site_url:
                asyncio.run(measure(site_url, token))


if __name__ == "__main__":
    main()
