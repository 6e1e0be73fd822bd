"""The gateway's pass-through on aiohttp (agents_llm.gateway.vendor_http) against the
httpx client it replaced, in one process and one run.

    .venv/bin/python bench/run.py bench_passthrough_client
    BENCH_CALLS=2000 .venv/bin/python bench/bench_passthrough_client.py

Against the loopback vendor (bench/_vendor.py, its own process), BENCH_CALLS sequential
calls each way, in interleaved rounds, on one event loop, at two levels:
- chain: forward.run_chain (the body rewritten, the vendor asked, the answer parsed
  and checked, its usage read): what the HTTP client is part of;
- view: the whole gateway view through the ASGI application (auth, route, the call's
  row on a scratch SQLite database), as a client's request arrives under uvicorn.
The httpx leg puts back the pass-through as it was before aiohttp (same code, httpx).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
ROUND = 100
BODY = {"model": "bench-agent", "messages": [{"role": "user", "content": "Give a signal for NVDA."}]}


def main() -> None:
    from bench import _servers

    sqlite_file = Path(tempfile.gettempdir()) / f"bench_passthrough_{os.getpid()}.sqlite3"
    env = _servers.site_env(f"sqlite:///{sqlite_file}")
    try:
        with _servers.vendor() as vendor_url:
            token = _servers.prepare_site(env, vendor_url)
            subprocess.run([sys.executable, __file__, "--measure", token], env=env, check=True)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)


# The pass-through as it was on httpx ---------------------------------------------------

_httpx_clients: dict = {}


async def _httpx_passthrough(chain, req, target, max_tokens):
    import httpx

    from agents_llm.gateway import forward, protocol
    from agents_llm.metering.pricing import TokenUsage

    key = (asyncio.get_running_loop(), target.base_url, hashlib.sha256((target.api_key or "").encode()).hexdigest())
    client = _httpx_clients.get(key)
    if client is None:
        client = _httpx_clients[key] = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=forward.CONNECT_TIMEOUT_SECONDS),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    content = json.dumps(forward.vendor_body(req, target, max_tokens), separators=(",", ":")).encode()
    request = client.build_request("POST", f"{target.base_url}/chat/completions", content=content, headers=headers)
    try:
        response = await client.send(request, stream=req.stream)
    except httpx.TimeoutException as exc:
        raise forward.AttemptFailed("Timeout", f"No answer in time ({type(exc).__name__}).") from None
    except httpx.HTTPError as exc:
        raise forward.AttemptFailed(type(exc).__name__, target.redact(str(exc)) or type(exc).__name__) from None
    if response.status_code != 200:
        raise forward.AttemptFailed(f"HTTP{response.status_code}", response.text[:300])
    try:
        data = response.json()
        message = data["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise forward.AttemptFailed("InvalidResponse", "The vendor's answer is not a chat completion.") from None
    usage = TokenUsage.from_openai(data.get("usage"))
    problem = protocol.answer_problems(req, message)
    if problem:
        raise forward.AttemptFailed("InvalidOutput", problem, usage=usage)
    data["model"] = req.model
    return forward.Answer(target=target, body=data, usage=usage)


# Measuring (in a process of its own, on the scratch database) --------------------------


def measure(token: str) -> None:
    import django

    django.setup()
    from agents_llm.agents.chain import achain_for_model
    from agents_llm.gateway import forward, protocol
    from tradingagents.asgi import application

    raw = json.dumps(BODY).encode()
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"authorization", f"Bearer {token}".encode()), (b"content-length", str(len(raw)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    aiohttp_passthrough = forward._passthrough

    async def view_call() -> None:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await application(dict(scope), receive, send)
        assert sent[0]["status"] == 200, sent

    async def chain_call(chain, req) -> None:
        result = await forward.run_chain(chain, req)
        assert result.answer is not None, result.attempts

    async def run() -> None:
        chain = await achain_for_model("bench-agent")
        req = protocol.parse_request(raw)
        legs = {
            "chain": lambda: chain_call(chain, req),
            "view": view_call,
        }
        clients = {"httpx": _httpx_passthrough, "aiohttp": aiohttp_passthrough}
        times: dict[tuple[str, str], list[float]] = {(leg, c): [] for leg in legs for c in clients}
        cpu: dict[tuple[str, str], float] = {(leg, c): 0.0 for leg in legs for c in clients}
        for leg, call in legs.items():
            for passthrough in clients.values():  # warm: connections, caches
                forward._passthrough = passthrough
                for _ in range(50):
                    await call()
            for number in range(CALLS // ROUND):
                order = list(clients.items()) if number % 2 == 0 else list(reversed(clients.items()))
                for name, passthrough in order:
                    forward._passthrough = passthrough
                    cpu_started = time.process_time()
                    for _ in range(ROUND):
                        started = time.perf_counter()
                        await call()
                        times[(leg, name)].append(time.perf_counter() - started)
                    cpu[(leg, name)] += time.process_time() - cpu_started
        forward._passthrough = aiohttp_passthrough
        print(f"{CALLS} sequential calls per client and level, rounds of {ROUND}, one event loop (uvloop)")
        print("CPU µs: this process's CPU time (all its threads) per call; the vendor runs in its own")
        print(f"{'level':6} {'client':8} {'mean µs':>9} {'median µs':>10} {'p90 µs':>8} {'CPU µs':>8} {'calls/s':>8}")
        for leg in legs:
            for name in clients:
                series = times[(leg, name)]
                mean = statistics.fmean(series)
                p90 = statistics.quantiles(series, n=10)[-1]
                print(f"{leg:6} {name:8} {mean * 1e6:9.0f} {statistics.median(series) * 1e6:10.0f} "
                      f"{p90 * 1e6:8.0f} {cpu[(leg, name)] / len(series) * 1e6:8.0f} {1 / mean:8.0f}")
            h, a = times[(leg, "httpx")], times[(leg, "aiohttp")]
            print(f"{leg:6} httpx/aiohttp: mean {statistics.fmean(h) / statistics.fmean(a):.2f}x, "
                  f"median {statistics.median(h) / statistics.median(a):.2f}x, "
                  f"CPU {cpu[(leg, 'httpx')] / cpu[(leg, 'aiohttp')]:.2f}x "
                  f"(aiohttp saves {(statistics.median(h) - statistics.median(a)) * 1e6:.0f} µs a call, median)")

    import uvloop

    uvloop.run(run())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        measure(sys.argv[2])
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingagents.settings")
        main()
