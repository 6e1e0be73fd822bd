"""Throughput of GET /api/v1/agents/{id}/llm-configs against a bare ninja endpoint that
returns a constant, both served by the same uvicorn process on PostgreSQL, under 20
concurrent clients. Target: the real endpoint reaches >= 80% of the bare one (issue 13).

    .venv/bin/python bench/bench_api.py            # DATABASE_URL must be postgres://...

Uses `wrk` when it is installed (apt-get install wrk), else a small asyncio/httpx load
generator. Each endpoint is measured ROUNDS times, alternating; medians are reported.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONCURRENCY = 20
DURATION_SECONDS = float(os.environ.get("BENCH_API_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "3"))
HOST = "127.0.0.1"
PORT = int(os.environ.get("BENCH_API_PORT", "18480"))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/tradingagents_bench"


def _env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    database_url = env.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        database_url = env.get("BENCH_DATABASE_URL", DEFAULT_DB)
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="bench._api_site_settings",
        DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + "x" * 50,
        ENCRYPTION_KEY=env.get("ENCRYPTION_KEY") or Fernet.generate_key().decode(),
        SERVE_STATIC="false",
        PYTHONPATH=str(ROOT),
        DRAMATIQ_EMBEDDED_WORKER="false",
        DATABASE_POOL=env.get("DATABASE_POOL", "true"),
    )
    return env


SETUP = """
import django
django.setup()
from django.contrib.auth.models import User
from agents_llm.models import AgentConfig
from agents_llm.agents.services import agent_create, llm_config_create
from providers.models import LLMProvider
from providers.services import provider_create
from tradingagents.services import api_token_create

user, _ = User.objects.get_or_create(username="bench", defaults={"is_staff": True})
agent = AgentConfig.objects.filter(name="bench-api-agent").first()
if agent is None:
    agent = agent_create(name="bench-api-agent", role="trader")
    offline = LLMProvider.objects.filter(name="bench-offline").first() or provider_create(name="bench-offline", provider_type="offline")
    for priority in range(3):
        llm_config_create(agent=agent, provider=offline, model_name=f"offline-{priority}", priority=priority)
_, token = api_token_create(user=user, name="bench")
print(agent.pk, token)
"""


def _ensure_database(url: str) -> None:
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _prepare(env: dict[str, str]) -> tuple[int, str]:
    python = sys.executable
    _ensure_database(env["DATABASE_URL"])
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([python, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    agent_id, token = out.stdout.split()[-2:]
    return int(agent_id), token


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not listen on {HOST}:{port}")


def _wrk(url: str, headers: dict[str, str]) -> float:
    args = ["wrk", "-t", "2", "-c", str(CONCURRENCY), "-d", f"{DURATION_SECONDS:.0f}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx responses from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


async def _httpx_load(url: str, headers: dict[str, str]) -> float:
    import httpx

    done = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + DURATION_SECONDS

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                response = await client.get(url)
                response.raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done / (time.perf_counter() - started)


def _measure(url: str, headers: dict[str, str]) -> float:
    if shutil.which("wrk"):
        return _wrk(url, headers)
    return asyncio.run(_httpx_load(url, headers))


def main() -> dict[str, float]:
    env = _env()
    agent_id, token = _prepare(env)
    auth = {"Authorization": f"Bearer {token}"}
    from tradingagents.server import command

    server = subprocess.Popen(
        command(Path(sys.executable).parent, HOST, PORT),
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(PORT)
        bare_url = f"http://{HOST}:{PORT}/bare/constant"
        real_url = f"http://{HOST}:{PORT}/api/v1/agents/{agent_id}/llm-configs"
        import httpx

        first = httpx.get(real_url, headers=auth)
        assert first.status_code == 200 and first.json()[0]["provider"] == "bench-offline", first.text[:300]
        _measure(bare_url, {})  # warm-up: imports, connections
        _measure(real_url, auth)
        bare, real = [], []
        for _ in range(ROUNDS):
            bare.append(_measure(bare_url, {}))
            real.append(_measure(real_url, auth))
    finally:
        server.terminate()
        server.wait(timeout=10)
    bare_median, real_median = statistics.median(bare), statistics.median(real)
    ratio = real_median / bare_median
    tool = "wrk" if shutil.which("wrk") else "httpx"
    print(f"bench_api: uvicorn + PostgreSQL, {CONCURRENCY} concurrent clients ({tool}), {ROUNDS} rounds of {DURATION_SECONDS:.0f}s")
    print(f"  bare ninja constant          median {bare_median:8.1f} req/s  {[round(x) for x in bare]}")
    print(f"  GET agents/{{id}}/llm-configs  median {real_median:8.1f} req/s  {[round(x) for x in real]}")
    print(f"  ratio {ratio:.0%} (target >= 80%) {'OK' if ratio >= 0.8 else 'BELOW TARGET'}")
    return {"bare_rps": bare_median, "llm_configs_rps": real_median, "ratio": ratio}


if __name__ == "__main__":
    main()
