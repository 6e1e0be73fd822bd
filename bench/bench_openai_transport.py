"""PydanticAI's OpenAI model as providers.backends builds it (httpx2, one pool per event
loop) against the same with openai's aiohttp transport (`openai[aiohttp]`,
`openai.DefaultAioHttpClient`, behind the same LoopLocalTransport), in one run.

    .venv/bin/python bench/run.py bench_openai_transport
    BENCH_CALLS=2000 .venv/bin/python bench/bench_openai_transport.py

Against the loopback vendor (bench/_vendor.py, its own process), BENCH_CALLS sequential
calls each way, in interleaved rounds, on one event loop: `agent.run()` with a 2-field
output (what a run does with these models) and `model_request` (one request, no agent).
SDK retries off in both. What decided that backends.py stays on httpx2.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CALLS = int(os.environ.get("BENCH_CALLS", "1000"))
ROUND = 100


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingagents.settings")
    import django

    django.setup()
    import logging

    import uvloop

    from bench import _servers

    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one INFO line per request otherwise
    with _servers.vendor() as base_url:
        uvloop.run(_measure(base_url))


def _aiohttp_client():
    import httpx2
    from openai import DefaultAioHttpClient
    from pydantic_ai._http import DEFAULT_HTTP_LIMITS, create_async_httpx2_client

    from providers import backends

    transport = backends._loop_local(httpx2.AsyncBaseTransport, DefaultAioHttpClient, limits=DEFAULT_HTTP_LIMITS)
    return create_async_httpx2_client(timeout=backends._timeout(), transport=transport)


async def _measure(base_url: str) -> None:
    from openai import AsyncOpenAI
    from pydantic import BaseModel
    from pydantic_ai import Agent
    from pydantic_ai.direct import model_request
    from pydantic_ai.messages import ModelRequest
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from providers import backends

    class Signal(BaseModel):
        signal: str
        confidence: float

    def model(http_client):
        client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", http_client=http_client, max_retries=0,
                             timeout=backends._timeout())
        return OpenAIChatModel("bench-model", provider=OpenAIProvider(openai_client=client))

    models = {"httpx2": model(backends._httpx2_client()), "aiohttp": model(_aiohttp_client())}
    agents = {name: Agent(m, output_type=Signal, instructions="You are a trader.") for name, m in models.items()}
    messages = [ModelRequest.user_text_prompt("Give a signal for NVDA.")]
    legs = {
        "agent.run": lambda name: agents[name].run("Give a signal for NVDA."),
        "model_request": lambda name: model_request(models[name], messages),
    }
    print(f"{CALLS} sequential calls per transport and level, rounds of {ROUND}; CPU: this process's per call")
    for leg, call in legs.items():
        times: dict[str, list[float]] = {name: [] for name in models}
        cpu = dict.fromkeys(models, 0.0)
        for name in models:  # warm
            for _ in range(30):
                await call(name)
        for number in range(CALLS // ROUND):
            for name in (list(models) if number % 2 == 0 else list(reversed(models))):
                cpu_started = time.process_time()
                for _ in range(ROUND):
                    started = time.perf_counter()
                    await call(name)
                    times[name].append(time.perf_counter() - started)
                cpu[name] += time.process_time() - cpu_started
        for name, series in times.items():
            print(f"{leg:14} {name:8} mean {statistics.fmean(series) * 1e6:7.0f} µs  "
                  f"median {statistics.median(series) * 1e6:7.0f} µs  CPU {cpu[name] / len(series) * 1e6:7.0f} µs")
        h, a = times["httpx2"], times["aiohttp"]
        print(f"{leg:14} httpx2/aiohttp: mean {statistics.fmean(h) / statistics.fmean(a):.2f}x, "
              f"median {statistics.median(h) / statistics.median(a):.2f}x, CPU {cpu['httpx2'] / cpu['aiohttp']:.2f}x")
    for m in models.values():
        await m.client.close()  # the aiohttp session of this loop would say it was not closed


if __name__ == "__main__":
    main()
