"""Processes the end-to-end benchmarks start: the loopback vendor, our uvicorn on a
scratch database (SQLite file, or PostgreSQL with the pool), and the objects a run
needs (provider pointing at the vendor, agent, task with a 2-field schema, an API
token of a non-superuser allowed to start runs)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PYTHON = sys.executable
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/tradingagents_bench_e2e"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")

SCHEMA = {
    "type": "object",
    "properties": {
        "signal": {"type": "string", "enum": ["buy", "hold", "sell"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["signal", "confidence"],
    "additionalProperties": False,
}
INSTRUCTIONS = "You are a trader. Answer with a signal."
PROMPT_TEMPLATE = "Give a signal for {ticker}."

SETUP = """
import json, sys
import django
django.setup()
from django.contrib.auth.models import Permission, User
from agents_llm.models import AgentConfig, AgentRun, TaskConfig
from agents_llm.agents.services import agent_create, assignment_create, llm_config_create, task_create
from providers.models import LLMProvider
from providers.services import provider_create
from tradingagents.services import api_token_create

vendor_url, schema, instructions, template = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
AgentRun.objects.filter(agent__name="bench-agent").delete()
AgentConfig.objects.filter(name="bench-agent").delete()
TaskConfig.objects.filter(name="bench-task").delete()
LLMProvider.objects.filter(name="bench-vendor").delete()
user, _ = User.objects.get_or_create(username="bench-runner", defaults={"is_staff": True})
user.user_permissions.add(*Permission.objects.filter(codename__in=["add_agentrun", "use_gateway"]))
provider = provider_create(name="bench-vendor", provider_type="openai_compatible", base_url=vendor_url,
                           api_key="sk-bench-vendor-0000")
agent = agent_create(name="bench-agent", display_name="Bench", instructions=instructions)
task = task_create(name="bench-task", prompt_template=template, response_schema=schema)
assignment_create(agent=agent, task=task)
llm_config_create(agent=agent, provider=provider, model_name="bench-model", temperature=0.3,
                  cost_per_1k_input_tokens="0.001", cost_per_1k_output_tokens="0.002")
_, token = api_token_create(user=user, name="bench")
print(token)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:.0f} s")


def postgres_reachable(url: str) -> bool:
    try:
        import psycopg

        parts = urlsplit(url)
        with psycopg.connect(parts._replace(path="/postgres").geturl(), connect_timeout=2):
            return True
    except Exception:
        return False


def redis_reachable(url: str = REDIS_URL) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def ensure_postgres_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def site_env(database_url: str, **extra: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DRAMATIQ_BROKER_URL")}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="tradingagents.settings",
        DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + "x" * 50,
        ENCRYPTION_KEY=os.environ.get("BENCH_ENCRYPTION_KEY") or Fernet.generate_key().decode(),
        SERVE_STATIC="false",
        PYTHONPATH=str(ROOT),
        DRAMATIQ_EMBEDDED_WORKER="false",
        LOG_LEVEL="WARNING",
    )
    if database_url.startswith("postgres"):
        env.setdefault("DATABASE_POOL", "true")
    env.update(extra)
    return env


def prepare_site(env: dict[str, str], vendor_url: str) -> str:
    """Migrate the scratch database and create the bench objects; the API token."""
    import json

    if env["DATABASE_URL"].startswith("postgres"):
        ensure_postgres_database(env["DATABASE_URL"])
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [PYTHON, "-c", SETUP, vendor_url, json.dumps(SCHEMA), INSTRUCTIONS, PROMPT_TEMPLATE],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )
    return out.stdout.split()[-1]


@contextmanager
def process(args: list[str], *, env: dict[str, str] | None = None, port: int, log: str = "") -> Iterator[subprocess.Popen]:
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    try:
        wait_for_port(port, process=proc, timeout=120)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


@contextmanager
def vendor() -> Iterator[str]:
    port = free_port()
    with process([PYTHON, str(ROOT / "bench" / "_vendor.py"), str(port)], port=port):
        yield f"http://{HOST}:{port}/v1"


@contextmanager
def site(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    from tradingagents import server

    log = os.path.join(tempfile.gettempdir(), f"bench_site_{port}.log")
    with process(server.command(Path(PYTHON).parent, HOST, port), env=env, port=port, log=log):
        yield f"http://{HOST}:{port}"


@contextmanager
def floor(app: str, vendor_url: str) -> Iterator[str]:
    """A no-op forwarder of bench/_floors.py (`app`: httpx_app or aiohttp_app) under
    uvicorn on uvloop and httptools, in front of the vendor; its base URL."""
    port = free_port()
    args = [str(Path(PYTHON).parent / "uvicorn"), f"bench._floors:{app}", "--host", HOST, "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--no-access-log", "--log-level", "warning"]
    env = {**os.environ, "BENCH_VENDOR_URL": vendor_url, "PYTHONPATH": str(ROOT)}
    log = os.path.join(tempfile.gettempdir(), f"bench_floor_{port}.log")
    with process(args, env=env, port=port, log=log):
        yield f"http://{HOST}:{port}"


@contextmanager
def database_legs() -> Iterator[list[tuple[str, str]]]:
    """(name, DATABASE_URL) of every leg: a temporary SQLite file, and PostgreSQL when reachable."""
    sqlite_file = Path(tempfile.gettempdir()) / f"bench_e2e_{os.getpid()}.sqlite3"
    legs = [("sqlite", f"sqlite:///{sqlite_file}")]
    postgres = os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL)
    if postgres_reachable(postgres):
        legs.append(("postgresql+pool", postgres))
    try:
        yield legs
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
