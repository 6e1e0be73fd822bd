"""The usage dashboard's queries (agents_llm.usage.dashboard.usage_dashboard: day × agent,
provider × model and session groupings of runs and gateway calls) on many rows,
against a baseline measured in the same run: a plain COUNT(*) of the same rows.

    .venv/bin/python bench/run.py bench_dashboard
    BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/tradingagents_bench_dashboard \
        BENCH_DASHBOARD_CALLS=1000000 .venv/bin/python bench/bench_dashboard.py

The PostgreSQL leg (1 000 000 calls and 100 000 runs by default) runs when the server
answers: BENCH_POSTGRES_URL, else DATABASE_URL when it is PostgreSQL, else the local
default below. Its database is dropped and created again: give it a scratch name. A
small SQLite leg always runs. Figures: median wall time of the whole dashboard (all
its queries), its query count, and the ratio to the COUNT baseline.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/tradingagents_bench_dashboard"
ROUNDS = int(os.environ.get("BENCH_DASHBOARD_ROUNDS", "5"))
TEMPLATE_CALLS = 10_000  # rows made by the ORM; the rest are SQL copies of them
TEMPLATE_RUNS = 2_000


def main() -> None:
    legs = [("sqlite", f"sqlite:///{tempfile.gettempdir()}/bench_dashboard_{os.getpid()}.sqlite3", 100_000, 10_000)]
    database_url = os.environ.get("DATABASE_URL", "")
    postgres = os.environ.get("BENCH_POSTGRES_URL") or (database_url if database_url.startswith("postgres") else DEFAULT_POSTGRES)
    calls = int(os.environ.get("BENCH_DASHBOARD_CALLS", "1000000"))
    if _reachable(postgres):
        legs.append(("postgresql", postgres, calls, calls // 10))
    else:
        print(f"PostgreSQL leg skipped: nothing answers at {_safe(postgres)} (set BENCH_POSTGRES_URL).")
    for name, url, n_calls, n_runs in legs:
        print(f"--- {name}: {n_calls:,} calls, {n_runs:,} runs ---", flush=True)
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tradingagents.settings"}
        env.pop("REDIS_URL", None)
        if name == "postgresql":
            _recreate(url)
        try:
            result = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--leg", str(n_calls), str(n_runs)], env=env, cwd=ROOT
            )
        finally:
            if url.startswith("sqlite:///"):
                Path(url.removeprefix("sqlite://")).unlink(missing_ok=True)
        if result.returncode:
            raise RuntimeError(f"the {name} leg failed (exit {result.returncode})")


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname or "", query="").geturl() if parts.password else url


def _reachable(url: str) -> bool:
    try:
        import psycopg

        parts = urlsplit(url)
        with psycopg.connect(parts._replace(path="/postgres").geturl(), connect_timeout=3):
            return True
    except Exception:
        return False


def _recreate(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _leg(n_calls: int, n_runs: int) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from agents_llm.models import AgentRun, LLMCall
    from agents_llm.usage.dashboard import usage_dashboard, usage_summary

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    _fill(n_calls, n_runs)
    print(f"filled in {time.perf_counter() - started:.1f} s: {LLMCall.objects.count():,} calls, "
          f"{AgentRun.objects.count():,} runs", flush=True)

    today = timezone.now().date()
    date_from = today - timedelta(days=29)
    from agents_llm.usage.selectors import day_bounds

    since, until = day_bounds(date_from, today)

    def baseline() -> None:
        with connection.cursor() as cursor:
            for table in (LLMCall._meta.db_table, AgentRun._meta.db_table):
                cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE created_at >= %s AND created_at < %s", [since, until])
                cursor.fetchone()

    def dashboard() -> None:
        usage_dashboard(date_from=date_from, date_to=today)

    def summary() -> None:
        usage_summary(days=7)

    with CaptureQueriesContext(connection) as queries:
        data = usage_dashboard(date_from=date_from, date_to=today)
    total = data["total"]
    print(f"dashboard: {len(queries.captured_queries)} queries; period total {total.count:,} rows, "
          f"${total.cost:,.2f}, {total.tokens:,} tokens", flush=True)

    figures = {name: _median(fn) for name, fn in (("baseline", baseline), ("dashboard", dashboard), ("summary", summary))}
    base = figures["baseline"]
    print(f"baseline COUNT(*) of calls + runs in the period: {base * 1000:8.1f} ms")
    print(f"usage dashboard (30 days, all groupings):      {figures['dashboard'] * 1000:8.1f} ms  "
          f"= {figures['dashboard'] / base:5.1f}x baseline")
    print(f"index summary (7 days):                        {figures['summary'] * 1000:8.1f} ms  "
          f"= {figures['summary'] / base:5.1f}x baseline")


def _median(fn) -> float:
    fn()  # warm caches and the connection
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _fill(n_calls: int, n_runs: int) -> None:
    """A template of rows made through the ORM (so every column gets its model
    default), spread over 30 days, then copied in SQL until there are enough."""
    import random
    from datetime import timedelta
    from decimal import Decimal

    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from agents_llm.models import AgentConfig, AgentRun, CallStatus, LLMCall, MeteredSession, RunStatus, TaskConfig
    from providers.models import LLMProvider

    rng = random.Random(1)
    now = timezone.now()
    owner = User.objects.create_user("bench-owner")
    agents = [AgentConfig.objects.create(name=f"agent-{n}", display_name=f"Agent {n}") for n in range(12)]
    task = TaskConfig.objects.create(name="bench-task", prompt_template="{x}", response_schema={"type": "object"})
    providers = [
        (LLMProvider.objects.create(name=f"prov-{n}", provider_type=kind), models)
        for n, (kind, models) in enumerate([
            ("openai", ["gpt-4o", "gpt-4o-mini", "o3-mini"]), ("anthropic", ["claude-sonnet-4-0", "claude-3-5-haiku"]),
            ("deepseek", ["deepseek-chat"]), ("offline", ["offline"]),
        ])
    ]
    sessions = [
        MeteredSession.objects.create(owner=owner, name=f"analysis {n}", token_prefix=f"b{n}", token_hash=f"bench-{n}")
        for n in range(200)
    ]

    def when():
        return now - timedelta(seconds=rng.randint(0, 30 * 86400 - 1))

    def pick():
        provider, models = rng.choice(providers)
        return provider, rng.choice(models)

    calls = []
    for _ in range(min(TEMPLATE_CALLS, n_calls)):
        provider, model = pick()
        status = rng.choices([CallStatus.SUCCEEDED, CallStatus.FAILED, CallStatus.REFUSED], [90, 7, 3])[0]
        calls.append(LLMCall(
            agent=rng.choice(agents), user=owner, session=rng.choice([None, *sessions]), provider=provider,
            model_name=model, status=status, input_tokens=rng.randint(50, 5000), output_tokens=rng.randint(5, 1500),
            cache_read_tokens=rng.randint(0, 500), cache_write_tokens=rng.randint(0, 200),
            reasoning_tokens=rng.randint(0, 300), cost=Decimal(rng.randint(1, 9000)) / 100000 if status == "succeeded" else None,
            fell_back=rng.random() < 0.08, streamed=rng.random() < 0.4, latency_ms=rng.randint(100, 5000), created_at=when(),
        ))
    LLMCall.objects.bulk_create(calls, batch_size=2000)
    runs = []
    for _ in range(min(TEMPLATE_RUNS, n_runs)):
        provider, model = pick()
        runs.append(AgentRun(
            agent=rng.choice(agents), task=task, status=rng.choice([RunStatus.SUCCEEDED] * 9 + [RunStatus.FAILED]),
            provider=provider, model_name=model, input_tokens=rng.randint(100, 4000), output_tokens=rng.randint(10, 800),
            requests=1, cost=Decimal(rng.randint(1, 5000)) / 100000, fell_back=rng.random() < 0.1,
            session=rng.choice([None, *sessions]),
        ))
    AgentRun.objects.bulk_create(runs, batch_size=2000)
    # Runs' created_at is auto_now_add: spread the template over the period afterwards.
    AgentRun.objects.bulk_update(
        [AgentRun(pk=pk, created_at=when()) for pk in AgentRun.objects.values_list("pk", flat=True)], ["created_at"],
        batch_size=2000,
    )
    for model, target in ((LLMCall, n_calls), (AgentRun, n_runs)):
        _copy_until(model, target)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {LLMCall._meta.db_table}")
            cursor.execute(f"ANALYZE {AgentRun._meta.db_table}")


def _copy_until(model, target: int) -> None:
    """Double the table with INSERT … SELECT (every column but the id) until it holds
    `target` rows, then trim the excess."""
    from django.db import connection

    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(f.column) for f in model._meta.concrete_fields if not f.primary_key)
    with connection.cursor() as cursor:
        while True:
            count = model.objects.count()
            if count >= target:
                break
            limit = min(count, target - count)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} ORDER BY id LIMIT %s", [limit])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--leg":
        _leg(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
