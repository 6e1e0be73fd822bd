"""Agent runtime benchmarks: registry warm hit vs cold build, and run_execute vs a bare
`agent.run()` with the same FunctionModel, on SQLite and (when reachable) PostgreSQL.

    .venv/bin/python bench/bench_runtime.py
    BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/scratch .venv/bin/python bench/bench_runtime.py

Each database leg runs in its own process on a scratch database that it migrates
itself (a temporary SQLite file; the PostgreSQL database named by BENCH_POSTGRES_URL,
or DATABASE_URL when that is PostgreSQL, else the local default below, created when
missing; the leg is skipped when no server answers). Targets (issue 4): warm ≥ 20× faster than
cold and ≤ 50 µs; runtime overhead around the model call (persistence excluded) ≤ 25%
of the bare run; the whole run_execute with its writes ≤ 1.5× the bare run (issue 13; was 2×).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import _servers  # noqa: E402

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/tradingagents_bench_runtime"
ANSWER = {"signal": "buy", "confidence": 0.75}
SCHEMA = {
    "type": "object",
    "properties": {
        "signal": {"type": "string", "enum": ["buy", "hold", "sell"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["signal", "confidence"],
    "additionalProperties": False,
}


def main() -> None:
    legs = [("sqlite", f"sqlite:///{tempfile.gettempdir()}/bench_runtime_{os.getpid()}.sqlite3")]
    database_url = os.environ.get("DATABASE_URL", "")
    postgres = os.environ.get("BENCH_POSTGRES_URL") or (
        database_url if database_url.startswith("postgres") else DEFAULT_POSTGRES
    )
    if _servers.postgres_reachable(postgres):
        _servers.ensure_postgres_database(postgres)
        legs.append(("postgresql", postgres))
    else:
        print("PostgreSQL leg skipped: nothing answers at BENCH_POSTGRES_URL (a scratch database; it is migrated "
              "and written to).")
    for name, url in legs:
        print(f"--- {name} ---", flush=True)
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tradingagents.settings"}
        env.pop("REDIS_URL", None)  # measure the runtime, not a broker or channel layer round trip
        result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--leg"], env=env, cwd=ROOT)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite://")).unlink(missing_ok=True)
        if result.returncode:
            raise RuntimeError(f"the {name} leg failed (exit {result.returncode})")


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def _leg() -> None:
    import django

    django.setup()
    import asyncio

    from django.core.management import call_command
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelResponse, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from agents_llm import output_schema
    from agents_llm.agents.services import agent_create, assignment_create, llm_config_create, task_create
    from agents_llm.metering.pricing import price_all
    from agents_llm.models import AgentConfig, AgentLLMConfig, AgentRun, TaskConfig
    from agents_llm.runs import registry, runner
    from providers import backends
    from providers.models import LLMProvider
    from providers.services import provider_create
    from tradingagents.dbthreads import run_sync

    call_command("migrate", verbosity=0)
    # Leftovers of an interrupted earlier run on the same database.
    AgentConfig.objects.filter(name="bench-agent").delete()  # cascades to its configs and runs
    TaskConfig.objects.filter(name="bench-task").delete()
    AgentLLMConfig.objects.filter(provider__name="bench-provider").delete()
    LLMProvider.objects.filter(name="bench-provider").delete()

    provider = provider_create(
        name="bench-provider", provider_type="openai_compatible", base_url="http://127.0.0.1:18399/v1",
        api_key="sk-bench-key-0000",
    )
    agent = agent_create(name="bench-agent", display_name="Bench", instructions="You trade.")
    task = task_create(name="bench-task", prompt_template="Give a signal for {ticker}.", response_schema=SCHEMA)
    assignment_create(agent=agent, task=task)
    llm_config_create(agent=agent, provider=provider, model_name="bench-model", temperature=0.3,
                      cost_per_1k_input_tokens="0.001", cost_per_1k_output_tokens="0.002")

    def answer(messages, info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, ANSWER)])

    function_model = FunctionModel(answer)
    # The registry builds this model for the bench provider instead of an HTTP one.
    backends.build_model = lambda **kwargs: function_model

    def get_or_create():
        return registry.runtime_for(agent, task)

    # Registry: cold build vs warm hit ---------------------------------------------
    cold: list[float] = []
    for _ in range(200):
        registry.registry.clear()
        t = time.perf_counter()
        get_or_create()
        cold.append(time.perf_counter() - t)
    cold_compile: list[float] = []
    for _ in range(50):
        registry.registry.clear()
        output_schema.clear_compile_cache()
        t = time.perf_counter()
        get_or_create()
        cold_compile.append(time.perf_counter() - t)
    warm: list[float] = []
    get_or_create()
    for _ in range(50):
        batch = 1000
        t = time.perf_counter()
        for _ in range(batch):
            get_or_create()
        warm.append((time.perf_counter() - t) / batch)
    print(f"registry cold build (schema compiled, cached): median {_median_us(cold):8.1f} µs")
    print(f"registry cold build (schema compile too):      median {_median_us(cold_compile):8.1f} µs")
    print(f"registry warm hit (no query: versions current): median {_median_us(warm):8.2f} µs  "
          f"-> cold/warm = {statistics.median(cold) / statistics.median(warm):.0f}x "
          f"(target ≥ 20x, warm ≤ 50 µs)")

    # run_execute vs bare agent.run ------------------------------------------------
    get_or_create()
    prompt = "Give a signal for NVDA."
    bare_agent = Agent(
        function_model, output_type=output_schema.compile_output_type(SCHEMA).output_type,
        instructions="You trade.", retries={"output": task.output_retries},
    )
    loop = asyncio.new_event_loop()
    n = 300

    def bare_once() -> float:
        t = time.perf_counter()
        result = loop.run_until_complete(bare_agent.run(prompt))
        elapsed = time.perf_counter() - t
        assert result.output == ANSWER
        return elapsed

    def runtime_once() -> float:
        # Everything run_execute does around the model call except the database.
        t = time.perf_counter()
        entry = get_or_create()
        run = AgentRun(agent=agent, task=task, input={"ticker": "NVDA"},
                       prompt=runner.render_prompt(task.prompt_template, {"ticker": "NVDA"}))
        outcome = runner.Outcome()
        run_sync(runner._execute(entry, run, outcome))
        price_all(outcome.responses)
        elapsed = time.perf_counter() - t
        assert outcome.output == ANSWER
        return elapsed

    def execute_once() -> tuple[float, float]:
        t = time.perf_counter()
        run = runner.run_create(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False)
        created = time.perf_counter() - t
        t = time.perf_counter()
        run = runner.run_execute(run_id=run.pk)
        executed = time.perf_counter() - t
        assert run.status == "succeeded", run.error
        return created, executed

    for _ in range(30):  # warm up every path
        bare_once(), runtime_once(), execute_once()
    bare, chain, created, executed = [], [], [], []
    # Interleaved so that machine noise hits every series alike.
    for _ in range(n):
        bare.append(bare_once())
        chain.append(runtime_once())
        c, e = execute_once()
        created.append(c)
        executed.append(e)
    m_bare, m_chain, m_exec = (statistics.median(s) for s in (bare, chain, executed))
    print(f"bare agent.run (FunctionModel):                median {_median_us(bare):8.1f} µs")
    print(f"runtime around the model call, no database:    median {_median_us(chain):8.1f} µs  "
          f"-> added {(m_chain - m_bare) / m_bare:+.0%} of the bare run (target ≤ 25%)")
    print(f"run_execute (claim, run, store, events):       median {_median_us(executed):8.1f} µs  "
          f"-> {m_exec / m_bare:.2f}x the bare run (target ≤ 1.5x)")
    print(f"run_create (checks, render, insert, event):    median {_median_us(created):8.1f} µs")
    print(f"registry after the runs: {registry.registry.stats()}")
    AgentRun.objects.filter(agent=agent).delete()


if __name__ == "__main__":
    if "--leg" in sys.argv:
        _leg()
    else:
        main()
