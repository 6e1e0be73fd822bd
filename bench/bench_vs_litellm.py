"""Our inline run (and gateway) against a LiteLLM proxy pass-through, side by side.

    .venv/bin/python bench/run.py bench_vs_litellm
    BENCH_CALLS=400 BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/scratch .venv/bin/python bench/bench_vs_litellm.py

Starts a loopback OpenAI-compatible vendor (bench/_vendor.py), a LiteLLM proxy in a
throw-away virtualenv (built on first use in .bench-venvs/, git-ignored, with
litellm[proxy] pinned exactly: 1.82.7 and 1.82.8 were compromised releases), and our
uvicorn with DEBUG off, and times, in interleaved rounds of sequential calls:

- direct: the chat completion straight to the vendor;
- LiteLLM: the same request through the proxy (no DATABASE_URL, local cost map);
- bare PydanticAI: `agent.run()` with the same 2-field output schema, in this process;
- inline run: `POST /api/v1/runs?wait=true` on that schema;
- gateway: `POST /v1/chat/completions` with the agent as `model` (when it exists);
- on PostgreSQL, both again on a second uvicorn with DATABASE_ON_LOOP=false: what
  writing from the event loop buys (tradingagents.loop_db).

Then 20 concurrent clients' throughput through LiteLLM and through our inline run.
Each database leg (SQLite; PostgreSQL with the pool when reachable) has its own uvicorn.
Target (issue 13): inline run ≤ 1.0× LiteLLM on both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import _servers  # noqa: E402

LITELLM_VERSION = "1.106.2"  # exact: never unpinned (1.82.7 and 1.82.8 were compromised)
VENV = Path(os.environ.get("BENCH_VENV_DIR", HERE.parent / ".bench-venvs")) / f"litellm-{LITELLM_VERSION}"
CALLS = int(os.environ.get("BENCH_CALLS", "200"))
ROUND = 20  # calls per path per round
CONCURRENCY = 20
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "4"))
VENDOR_KEY = "sk-bench-vendor-0000"
# LiteLLM refuses to start without a master key; clients send it like any API key.
MASTER_KEY = "sk-" + os.urandom(32).hex()
ON_THREADS_INLINE = "inline run, DATABASE_ON_LOOP=false"
ON_THREADS_GATEWAY = "gateway, DATABASE_ON_LOOP=false"


def litellm_binary() -> Path:
    binary = VENV / "bin" / "litellm"
    if binary.exists():
        return binary
    print(f"building {VENV} with litellm[proxy]=={LITELLM_VERSION} (first run only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         f"litellm[proxy]=={LITELLM_VERSION}"],
        check=True,
    )
    return binary


def litellm_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False",
               LITELLM_MASTER_KEY=MASTER_KEY)
    return env


def litellm_config(vendor_url: str) -> str:
    path = Path(tempfile.gettempdir()) / f"bench_litellm_{os.getpid()}.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: bench-model\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: {vendor_url}\n"
        f"      api_key: {VENDOR_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    return str(path)


def chat_body(model: str) -> dict:
    """What PydanticAI sends for the 2-field schema, near enough: a system and a user
    message and the output tool."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": _servers.INSTRUCTIONS},
            {"role": "user", "content": "Give a signal for NVDA."},
        ],
        "tools": [{"type": "function", "function": {
            "name": "final_result", "description": "The final response", "parameters": _servers.SCHEMA,
        }}],
        "tool_choice": "required",
    }


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Paths:
    """The callables timed, one per path, each doing one call and checking its answer."""

    def __init__(
        self, client, vendor_url: str, litellm_url: str, site_url: str, token: str, threads_url: str | None = None,
    ) -> None:
        from pydantic import BaseModel, Field
        from pydantic_ai import Agent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
        from typing import Literal

        class Signal(BaseModel):
            signal: Literal["buy", "hold", "sell"]
            confidence: float = Field(ge=0, le=1)

        self.client = client
        self.vendor_url = vendor_url
        self.litellm_url = litellm_url
        self.site_url = site_url
        self.threads_url = threads_url  # the same site with DATABASE_ON_LOOP=false (PostgreSQL)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.litellm_auth = {"Authorization": f"Bearer {MASTER_KEY}"}
        model = OpenAIChatModel("bench-model", provider=OpenAIProvider(base_url=vendor_url, api_key=VENDOR_KEY))
        self.bare_agent = Agent(model, output_type=Signal, instructions=_servers.INSTRUCTIONS)
        self.gateway_available = False

    async def direct(self) -> None:
        r = await self.client.post(f"{self.vendor_url}/chat/completions", json=chat_body("bench-model"))
        r.raise_for_status()

    async def litellm(self) -> None:
        r = await self.client.post(
            f"{self.litellm_url}/v1/chat/completions", json=chat_body("bench-model"), headers=self.litellm_auth
        )
        r.raise_for_status()

    async def bare(self) -> None:
        result = await self.bare_agent.run("Give a signal for NVDA.")
        assert result.output.signal == "buy"

    async def inline(self, site_url: str | None = None) -> None:
        r = await self.client.post(
            f"{site_url or self.site_url}/api/v1/runs?wait=true", headers=self.auth,
            json={"agent": "bench-agent", "task": "bench-task", "input": {"ticker": "NVDA"}},
        )
        if r.status_code != 200 or r.json()["status"] != "succeeded":
            raise RuntimeError(f"inline run: {r.status_code} {r.text[:300]}")

    async def gateway(self, site_url: str | None = None) -> None:
        r = await self.client.post(
            f"{site_url or self.site_url}/v1/chat/completions", headers=self.auth,
            json={"model": "bench-agent", "messages": [{"role": "user", "content": "Give a signal for NVDA."}]},
        )
        if r.status_code != 200:
            raise RuntimeError(f"gateway: {r.status_code} {r.text[:300]}")

    async def inline_on_threads(self) -> None:
        await self.inline(self.threads_url)

    async def gateway_on_threads(self) -> None:
        await self.gateway(self.threads_url)

    async def probe_gateway(self) -> None:
        try:
            r = await self.client.post(
                f"{self.site_url}/v1/chat/completions", headers=self.auth,
                json={"model": "bench-agent", "messages": [{"role": "user", "content": "Give a signal for NVDA."}]},
            )
        except Exception:
            return
        self.gateway_available = r.status_code == 200
        if not self.gateway_available:
            print(f"  gateway: not available (POST /v1/chat/completions -> {r.status_code})")


async def timed(call: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def throughput(call: Callable[[], Awaitable[None]], clients: int, seconds: float) -> tuple[float, int]:
    done = failed = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done, failed
        while time.perf_counter() < deadline:
            try:
                await call()
                done += 1
            except Exception:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - started), failed


async def measure_leg(name: str, paths: Paths) -> None:
    series: dict[str, Callable[[], Awaitable[None]]] = {
        "direct to the vendor": paths.direct,
        f"LiteLLM {LITELLM_VERSION} pass-through": paths.litellm,
        "bare PydanticAI agent.run()": paths.bare,
        "POST /api/v1/runs?wait=true": paths.inline,
    }
    await paths.probe_gateway()
    if paths.gateway_available:
        series["gateway /v1/chat/completions"] = paths.gateway
    if paths.threads_url:  # what writing from the event loop buys (tradingagents.loop_db)
        series[ON_THREADS_INLINE] = paths.inline_on_threads
        if paths.gateway_available:
            series[ON_THREADS_GATEWAY] = paths.gateway_on_threads
    for call in series.values():  # warm-up: imports, connections, caches
        for _ in range(10):
            await call()
    samples: dict[str, list[float]] = {label: [] for label in series}
    rounds = max(1, CALLS // ROUND)
    for _ in range(rounds):
        for label, call in series.items():
            for _ in range(ROUND):
                samples[label].append(await timed(call))
    base = statistics.median(samples[f"LiteLLM {LITELLM_VERSION} pass-through"])
    print(f"  {rounds} interleaved rounds of {ROUND} sequential calls per path")
    print(f"  {'path':36} {'median':>9} {'p90':>9} {'× LiteLLM':>10}")
    for label, values in samples.items():
        median = statistics.median(values)
        print(f"  {label:36} {median * 1e3:7.2f}ms {percentile(values, 0.9) * 1e3:7.2f}ms {median / base:9.2f}×")
    if not paths.gateway_available:
        print(f"  {'gateway /v1/chat/completions':36} not available")
    inline = statistics.median(samples["POST /api/v1/runs?wait=true"])
    print(f"  inline run {inline / base:.2f}× LiteLLM (target ≤ 1.0×): {'met' if inline <= base else 'NOT met'}; "
          f"ours over bare PydanticAI: {(inline - statistics.median(samples['bare PydanticAI agent.run()'])) * 1e3:+.2f} ms")
    for label, loop, threads in (
        ("inline run", "POST /api/v1/runs?wait=true", ON_THREADS_INLINE),
        ("gateway", "gateway /v1/chat/completions", ON_THREADS_GATEWAY),
    ):
        if threads in samples:
            on_loop, on_threads = statistics.median(samples[loop]), statistics.median(samples[threads])
            print(f"  {label} with DATABASE_ON_LOOP: {on_loop / on_threads:.2f}× without "
                  f"({(on_loop - on_threads) * 1e3:+.2f} ms)")
    # How much the ratio moves between rounds (the machine's noise, seen in this run).
    per_round = [
        statistics.median(samples["POST /api/v1/runs?wait=true"][i:i + ROUND])
        / statistics.median(samples[f"LiteLLM {LITELLM_VERSION} pass-through"][i:i + ROUND])
        for i in range(0, rounds * ROUND, ROUND)
    ]
    print(f"  inline run / LiteLLM per round: min {min(per_round):.2f}×, median {statistics.median(per_round):.2f}×, "
          f"max {max(per_round):.2f}×")

    load = {"LiteLLM": paths.litellm, "inline run": paths.inline}
    if paths.gateway_available:
        load["gateway"] = paths.gateway
    rps: dict[str, list[float]] = {label: [] for label in load}
    failures: dict[str, int] = {label: 0 for label in load}
    for _ in range(2):
        for label, call in load.items():
            value, failed = await throughput(call, CONCURRENCY, LOAD_SECONDS)
            rps[label].append(value)
            failures[label] += failed
    print(f"  {CONCURRENCY} concurrent clients, 2 rounds of {LOAD_SECONDS:.0f} s:")
    lite = statistics.median(rps["LiteLLM"])
    for label, values in rps.items():
        median = statistics.median(values)
        print(f"    {label:12} {median:8.1f} req/s  {median / lite:5.2f}× LiteLLM  failed {failures[label]}")


async def run_legs(vendor_url: str, litellm_url: str) -> None:
    import httpx

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    with _servers.database_legs() as legs:
        for name, database_url in legs:
            print(f"--- {name} ---", flush=True)
            env = _servers.site_env(database_url)
            token = _servers.prepare_site(env, vendor_url)
            with contextlib.ExitStack() as servers:
                site_url = servers.enter_context(_servers.site(env))
                threads_url = None
                if database_url.startswith("postgres"):  # the same site, without DATABASE_ON_LOOP
                    threads_url = servers.enter_context(_servers.site({**env, "DATABASE_ON_LOOP": "false"}))
                async with httpx.AsyncClient(limits=limits, timeout=60) as client:
                    await measure_leg(name, Paths(client, vendor_url, litellm_url, site_url, token, threads_url))
        if len(legs) == 1:
            print("PostgreSQL leg skipped: not reachable (BENCH_POSTGRES_URL).")


def main() -> None:
    binary = litellm_binary()
    with _servers.vendor() as vendor_url:
        port = _servers.free_port()
        args = [str(binary), "--config", litellm_config(vendor_url), "--host", _servers.HOST, "--port", str(port),
                "--num_workers", "1"]
        log = Path(tempfile.gettempdir()) / f"bench_litellm_{port}.log"
        with _servers.process(args, env=litellm_env(), port=port, log=str(log)):
            print(f"vendor {vendor_url}, LiteLLM {LITELLM_VERSION} on :{port}, uvicorn with DEBUG off")
            asyncio.run(run_legs(vendor_url, f"http://{_servers.HOST}:{port}"))


if __name__ == "__main__":
    main()
