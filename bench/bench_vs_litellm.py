"""Our inline run and gateway against LiteLLM, Portkey and two no-op forwarder floors,
side by side, in front of the same loopback vendor.

    .venv/bin/python bench/run.py bench_vs_litellm
    BENCH_CALLS=400 BENCH_LOAD_SECONDS=4 BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/scratch \\
        .venv/bin/python bench/bench_vs_litellm.py

Started once, shared by every leg:
- the loopback vendor (bench/_vendor.py; it streams too);
- a LiteLLM proxy in a throw-away virtualenv (.bench-venvs/litellm-*, git-ignored;
  litellm[proxy] pinned exactly: 1.82.7 and 1.82.8 were compromised releases), with a
  local cost map and no DATABASE_URL;
- the Portkey gateway, headless under node (`npm install` into .bench-venvs/portkey-*,
  git-ignored, no install scripts; the gateway pinned, and its HTTP layer pinned to its
  release's lockfile: see PORTKEY_PACKAGES); requests carry x-portkey-provider: openai
  and x-portkey-custom-host: the vendor. Skipped when node or npm is missing;
- two no-op forwarders (bench/_floors.py, uvicorn with uvloop and httptools, one pooled
  client per process: httpx.AsyncClient, aiohttp.ClientSession): the floor under any
  Python pass-through.

Then per database leg — SQLite; PostgreSQL with DATABASE_POOL=true when it answers
(BENCH_POSTGRES_URL); the same with REDIS_URL (BENCH_REDIS_URL, db 7) when Redis answers —
one uvicorn of ours (DEBUG off), and, from one aiohttp client on uvloop:

1. latency, in interleaved rounds of sequential calls: median, p90 and overhead over the
   direct call, for direct to the vendor; the aiohttp and httpx floors; Portkey; LiteLLM;
   bare PydanticAI `agent.run()` in this process; our gateway (`POST /v1/chat/completions`
   with the agent as `model`); our inline run (`POST /api/v1/runs?wait=true`, 2-field
   schema). Every pass-through gets the same body (system and user message, one tool,
   forced); our gateway also checks the tool call against the tool's schema;
2. in the same rounds, that body with `stream: true` (usage asked) through the direct
   call, the floors, Portkey and our gateway: time to the first byte of the SSE body
   (TTFB) and to its end, as overhead over direct, beside the non-streamed overhead.
   Portkey 1.15.2 waits 25 ms before it relays a stream's first event (by design, in its
   stream handler), so its TTFB is also shown less that wait;
3. throughput (req/s) of 20 concurrent clients through the floors, Portkey, LiteLLM, our
   gateway and our inline run, in interleaved rounds.

Before timing, each leg checks that every path really goes through to the vendor: the
floors give the vendor's bytes back; Portkey its JSON and a stream of the same content
and usage; LiteLLM and our gateway its tool call (our gateway also its stream).

Every figure is a difference or a ratio against a baseline measured in the same leg (the
machine is shared and noisy); the per-round spread of the main ratios shows how noisy.
Targets (the issue):
- inline run ≤ 1.0× the LiteLLM pass-through, on every database leg;
- gateway overhead (over direct) ≤ Portkey's; stretch: within 0.5 ms of the aiohttp floor's;
- gateway throughput ≥ 1.0× Portkey's, one process each.

BENCH_CALLS (200 calls per path, in rounds of 10) and BENCH_LOAD_SECONDS (2 s per
throughput round, 3 rounds) keep the whole run (three legs) to about four minutes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import _servers  # noqa: E402

LITELLM_VERSION = "1.106.2"  # exact: never unpinned (1.82.7 and 1.82.8 were compromised)
PORTKEY_VERSION = "1.15.2"  # exact
VENVS = Path(os.environ.get("BENCH_VENV_DIR", HERE.parent / ".bench-venvs"))
VENV = VENVS / f"litellm-{LITELLM_VERSION}"
PORTKEY_DIR = VENVS / f"portkey-{PORTKEY_VERSION}"
# The gateway's package leaves its dependencies as ranges and ships no lockfile; its
# release's package-lock.json has @hono/node-server 1.13.5 and hono 4.9.7. With the
# @hono/node-server npm picks today (1.19), every stream fails with "TypeError:
# immutable" (Portkey-AI/gateway issue 1389), so the server's HTTP layer is pinned to
# the release's lockfile.
PORTKEY_PACKAGES = (f"@portkey-ai/gateway@{PORTKEY_VERSION}", "@hono/node-server@1.13.5", "hono@4.9.7")
PORTKEY_SCRIPT = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
CALLS = int(os.environ.get("BENCH_CALLS", "200"))
ROUND = 10  # calls per path per round: short, so a burst of load elsewhere hits every path alike
CONCURRENCY = 20
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "2"))
LOAD_ROUNDS = 3
VENDOR_KEY = "sk-bench-vendor-0000"
# src/handlers/streamHandler.ts of that release: `await new Promise((resolve) =>
# setTimeout(resolve, 25))` before the first event of every relayed stream.
PORTKEY_FIRST_CHUNK_WAIT = 0.025
# LiteLLM refuses to start without a master key; clients send it like any API key.
MASTER_KEY = "sk-" + os.urandom(32).hex()

DIRECT = "direct to the vendor"
AIOHTTP = "aiohttp floor (uvicorn)"
HTTPX = "httpx floor (uvicorn)"
PORTKEY = f"Portkey {PORTKEY_VERSION}"
LITELLM = f"LiteLLM {LITELLM_VERSION}"
BARE = "bare PydanticAI agent.run()"
GATEWAY = "gateway /v1/chat/completions"
INLINE = "inline run /api/v1/runs?wait=true"


# The competitors ---------------------------------------------------------------------


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


def installed_versions() -> dict[str, set[str]]:
    """The versions of each pinned package anywhere in the Portkey folder's node_modules."""
    versions: dict[str, set[str]] = {package.rsplit("@", 1)[0]: set() for package in PORTKEY_PACKAGES}
    for manifest in (PORTKEY_DIR / "node_modules").glob("**/package.json"):
        name = manifest.parent.relative_to(PORTKEY_DIR).as_posix().rsplit("node_modules/", 1)[-1]
        if name in versions:
            versions[name].add(json.loads(manifest.read_text())["version"])
    return versions


def portkey_script() -> Path | None:
    """Portkey's node server, installed on first use (exact versions, no install scripts);
    None when node or npm is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        print("Portkey skipped: node and npm are needed (Node.js 20).")
        return None
    wanted = {name: {version} for name, version in (package.rsplit("@", 1) for package in PORTKEY_PACKAGES)}
    if installed_versions() == wanted:
        return PORTKEY_SCRIPT
    print(f"installing {' '.join(PORTKEY_PACKAGES)} into {PORTKEY_DIR} (first run only) ...", flush=True)
    own = PORTKEY_DIR / "package.json"
    if PORTKEY_DIR.exists() and (not own.exists() or json.loads(own.read_text()).get("name") != "bench-portkey"):
        raise RuntimeError(f"{PORTKEY_DIR} is not the bench's Portkey folder; move it away")
    shutil.rmtree(PORTKEY_DIR, ignore_errors=True)  # a clean tree: npm keeps what an old lockfile chose
    PORTKEY_DIR.mkdir(parents=True)
    pinned = dict(package.rsplit("@", 1) for package in PORTKEY_PACKAGES)
    manifest = {"name": "bench-portkey", "private": True, "dependencies": pinned,
                "overrides": {name: version for name, version in pinned.items() if name != "@portkey-ai/gateway"}}
    (PORTKEY_DIR / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                   cwd=PORTKEY_DIR, check=True)
    if installed_versions() != wanted:
        raise RuntimeError(f"npm installed {installed_versions()}, not {wanted}")
    return PORTKEY_SCRIPT


@contextlib.contextmanager
def portkey(script: Path | None):
    """Portkey's gateway, headless (no console UI, no log stream), on a free port; its URL."""
    if script is None:
        yield None
        return
    port = _servers.free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    log = Path(tempfile.gettempdir()) / f"bench_portkey_{port}.log"
    with _servers.process([shutil.which("node") or "node", str(script), "--headless", f"--port={port}"],
                          env=env, port=port, log=str(log)):
        yield f"http://{_servers.HOST}:{port}"


# The calls ------------------------------------------------------------------------------


def chat_body(model: str, stream: bool = False) -> dict:
    """What PydanticAI sends for the 2-field schema, near enough: a system and a user
    message and the output tool, forced."""
    body = {
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
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def encoded(body: dict) -> bytes:
    return json.dumps(body).encode()


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def assembled(stream: bytes) -> tuple[str, str, str | None, dict | None]:
    """(content, tool-call arguments, finish reason, usage) of an SSE body; checks its framing."""
    content = arguments = ""
    finish = usage = None
    events = [e for e in stream.replace(b"\r\n", b"\n").split(b"\n\n") if e.strip()]
    if not events or events[-1].strip() != b"data: [DONE]":
        raise RuntimeError(f"stream does not end with data: [DONE]: {stream[-200:]!r}")
    for event in events[:-1]:
        if not event.startswith(b"data:"):
            raise RuntimeError(f"not an SSE data event: {event[:200]!r}")
        chunk = json.loads(event[5:])
        if isinstance(chunk.get("usage"), dict):
            usage = {k: chunk["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                arguments += (call.get("function") or {}).get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return content, arguments, finish, usage


class Paths:
    """The calls timed, one per path; each raises unless it got a 200."""

    def __init__(
        self, session, vendor_url: str, litellm_url: str, portkey_url: str | None,
        floor_urls: dict[str, str], site_url: str, token: str,
    ) -> None:
        from typing import Literal

        from pydantic import BaseModel, Field
        from pydantic_ai import Agent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        class Signal(BaseModel):
            signal: Literal["buy", "hold", "sell"]
            confidence: float = Field(ge=0, le=1)

        self.session = session
        self.vendor_url = vendor_url
        self.litellm_url = litellm_url
        self.portkey_url = portkey_url
        self.floor_urls = floor_urls
        self.site_url = site_url
        json_type = {"Content-Type": "application/json"}
        self.vendor_headers = {**json_type, "Authorization": f"Bearer {VENDOR_KEY}"}
        self.site_headers = {**json_type, "Authorization": f"Bearer {token}"}
        self.litellm_headers = {**json_type, "Authorization": f"Bearer {MASTER_KEY}"}
        self.portkey_headers = {**self.vendor_headers, "x-portkey-provider": "openai",
                                "x-portkey-custom-host": vendor_url}
        self.body, self.stream_body = encoded(chat_body("bench-model")), encoded(chat_body("bench-model", True))
        self.gateway_body = encoded(chat_body("bench-agent"))
        self.gateway_stream_body = encoded(chat_body("bench-agent", True))
        self.inline_body = encoded({"agent": "bench-agent", "task": "bench-task", "input": {"ticker": "NVDA"}})
        model = OpenAIChatModel("bench-model", provider=OpenAIProvider(base_url=vendor_url, api_key=VENDOR_KEY))
        self.bare_agent = Agent(model, output_type=Signal, instructions=_servers.INSTRUCTIONS)
        self.gateway_available = False

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> bytes:
        async with self.session.post(url, data=body, headers=headers) as response:
            data = await response.read()
            if response.status != 200:
                raise RuntimeError(f"POST {url}: {response.status} {data[:300]!r}")
            return data

    async def stream(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[float, float, bytes]:
        """(seconds to the first byte of the SSE body, seconds to its end, the body)."""
        started = time.perf_counter()
        first = None
        parts = []
        async with self.session.post(url, data=body, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"POST {url} (stream): {response.status} {(await response.read())[:300]!r}")
            async for part in response.content.iter_any():
                if first is None and part:
                    first = time.perf_counter()
                parts.append(part)
        ended = time.perf_counter()
        return (first or ended) - started, ended - started, b"".join(parts)

    # One non-streamed call per path.
    def direct(self) -> Awaitable[bytes]:
        return self.post(f"{self.vendor_url}/chat/completions", self.body, self.vendor_headers)

    def floor(self, name: str) -> Callable[[], Awaitable[bytes]]:
        url = f"{self.floor_urls[name]}/v1/chat/completions"
        return lambda: self.post(url, self.body, self.vendor_headers)

    def portkey(self) -> Awaitable[bytes]:
        return self.post(f"{self.portkey_url}/v1/chat/completions", self.body, self.portkey_headers)

    def litellm(self) -> Awaitable[bytes]:
        return self.post(f"{self.litellm_url}/v1/chat/completions", self.body, self.litellm_headers)

    async def bare(self) -> None:
        result = await self.bare_agent.run("Give a signal for NVDA.")
        assert result.output.signal == "buy"

    def gateway(self) -> Awaitable[bytes]:
        return self.post(f"{self.site_url}/v1/chat/completions", self.gateway_body, self.site_headers)

    async def inline(self) -> None:
        data = await self.post(f"{self.site_url}/api/v1/runs?wait=true", self.inline_body, self.site_headers)
        if json.loads(data)["status"] != "succeeded":
            raise RuntimeError(f"inline run: {data[:300]!r}")

    # The same, streamed.
    def direct_stream(self) -> Awaitable[tuple[float, float, bytes]]:
        return self.stream(f"{self.vendor_url}/chat/completions", self.stream_body, self.vendor_headers)

    def floor_stream(self, name: str) -> Callable[[], Awaitable[tuple[float, float, bytes]]]:
        url = f"{self.floor_urls[name]}/v1/chat/completions"
        return lambda: self.stream(url, self.stream_body, self.vendor_headers)

    def portkey_stream(self) -> Awaitable[tuple[float, float, bytes]]:
        return self.stream(f"{self.portkey_url}/v1/chat/completions", self.stream_body, self.portkey_headers)

    def gateway_stream(self) -> Awaitable[tuple[float, float, bytes]]:
        return self.stream(f"{self.site_url}/v1/chat/completions", self.gateway_stream_body, self.site_headers)

    async def probe_gateway(self) -> None:
        try:
            await self.gateway()
            self.gateway_available = True
        except Exception as exc:
            print(f"  gateway: not available ({str(exc)[:200]})")

    async def verify(self) -> None:
        """That each path really went through to the vendor and brought its answer back."""
        vendor = await self.direct()
        vendor_json = json.loads(vendor)
        message = vendor_json["choices"][0]["message"]
        arguments = message["tool_calls"][0]["function"]["arguments"]
        vendor_stream = (await self.direct_stream())[2]
        streamed = assembled(vendor_stream)
        if streamed[1] != arguments or streamed[3] != vendor_json["usage"]:
            raise RuntimeError(f"the vendor's stream is not its answer: {streamed}")
        for name in self.floor_urls:
            if await self.floor(name)() != vendor or (await self.floor_stream(name)())[2] != vendor_stream:
                raise RuntimeError(f"{name}: not the vendor's bytes")
        if self.portkey_url:
            if json.loads(await self.portkey()) != vendor_json:
                raise RuntimeError(f"{PORTKEY}: not the vendor's answer: {(await self.portkey())[:300]!r}")
            if assembled((await self.portkey_stream())[2]) != streamed:
                raise RuntimeError(f"{PORTKEY}: not the vendor's stream")
        lite = json.loads(await self.litellm())["choices"][0]["message"]
        if lite["tool_calls"][0]["function"]["arguments"] != arguments:
            raise RuntimeError(f"{LITELLM}: not the vendor's tool call: {lite}")
        if self.gateway_available:
            ours = json.loads(await self.gateway())
            if ours["choices"][0]["message"] != message or ours["usage"] != vendor_json["usage"]:
                raise RuntimeError(f"{GATEWAY}: not the vendor's answer: {ours}")
            if assembled((await self.gateway_stream())[2]) != streamed:
                raise RuntimeError(f"{GATEWAY}: not the vendor's stream")


# Measuring ------------------------------------------------------------------------------


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def throughput(
    call: Callable[[], Awaitable[Any]], clients: int, seconds: float, errors: collections.Counter[str] | None = None,
) -> float:
    """Completed calls per second of `clients` looping on `call`; failures counted in `errors` by kind."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            try:
                await call()
                done += 1
            except Exception as exc:
                if errors is not None:
                    errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return done / (time.perf_counter() - started)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:+.2f} ms"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b is not None and b > 0 else None


def show(value: float | None, target: str = "") -> str:
    """A ratio, with whether it meets `target` ('<=1.0' / '>=1.0')."""
    if value is None:
        return "n/a"
    text = f"{value:.2f}×"
    if target:
        bound = float(target[2:])
        met = value <= bound if target.startswith("<=") else value >= bound
        text += f" (target {target[:2].replace('<=', '≤').replace('>=', '≥')} {bound:.1f}×: {'met' if met else 'NOT met'})"
    return text


async def measure_leg(paths: Paths) -> dict[str, Any]:
    await paths.probe_gateway()
    plain: dict[str, Callable[[], Awaitable[Any]]] = {DIRECT: paths.direct}
    streamed: dict[str, Callable[[], Awaitable[tuple[float, float, bytes]]]] = {DIRECT: paths.direct_stream}
    for name in paths.floor_urls:
        plain[name], streamed[name] = paths.floor(name), paths.floor_stream(name)
    if paths.portkey_url:
        plain[PORTKEY], streamed[PORTKEY] = paths.portkey, paths.portkey_stream
    plain[LITELLM] = paths.litellm
    plain[BARE] = paths.bare
    if paths.gateway_available:
        plain[GATEWAY], streamed[GATEWAY] = paths.gateway, paths.gateway_stream
    plain[INLINE] = paths.inline

    for call in [*plain.values(), *streamed.values()]:  # warm-up: imports, connections, caches
        for _ in range(10):
            await call()
    await paths.verify()
    print("  every path checked: it reaches the vendor and brings its answer back")

    samples: dict[str, list[float]] = {label: [] for label in plain}
    first_byte: dict[str, list[float]] = {label: [] for label in streamed}
    whole: dict[str, list[float]] = {label: [] for label in streamed}
    rounds = max(1, CALLS // ROUND)
    for _ in range(rounds):
        for label, call in plain.items():
            for _ in range(ROUND):
                samples[label].append(await timed(call))
        for label, stream in streamed.items():
            for _ in range(ROUND):
                ttfb, total, _body = await stream()
                first_byte[label].append(ttfb)
                whole[label].append(total)

    median = {label: statistics.median(values) for label, values in samples.items()}
    over = {label: value - median[DIRECT] for label, value in median.items()}
    print(f"  {rounds} interleaved rounds of {ROUND} sequential calls per path (same body; tool call forced)")
    print(f"  {'path':36} {'median':>9} {'p90':>9} {'over direct':>12}")
    for label, values in samples.items():
        print(f"  {label:36} {median[label] * 1e3:7.2f}ms {percentile(values, 0.9) * 1e3:7.2f}ms "
              f"{'—' if label == DIRECT else ms(over[label]):>12}")
    if not paths.gateway_available:
        print(f"  {GATEWAY:36} not available")

    result: dict[str, Any] = {
        "inline/litellm": ratio(median[INLINE], median[LITELLM]),
        "gw/portkey": ratio(over.get(GATEWAY), over.get(PORTKEY)),
        "gw-floor": over[GATEWAY] - over[AIOHTTP] if GATEWAY in over else None,
    }
    print(f"  inline run ÷ LiteLLM: {show(result['inline/litellm'], '<=1.0')}; "
          f"inline run over bare PydanticAI: {ms(median[INLINE] - median[BARE])}")
    print(f"  gateway overhead ÷ Portkey overhead: {show(result['gw/portkey'], '<=1.0')}")
    if result["gw-floor"] is not None:
        print(f"  gateway overhead − aiohttp-floor overhead: {ms(result['gw-floor'])} "
              f"(stretch ≤ +0.50 ms: {'met' if result['gw-floor'] <= 0.0005 else 'NOT met'}); "
              f"httpx floor − aiohttp floor: {ms(over[HTTPX] - over[AIOHTTP])}")
    # How much the ratios move between rounds (the machine's noise, seen in this run).
    spread = {"inline run ÷ LiteLLM": (INLINE, LITELLM, False)}
    if GATEWAY in samples and PORTKEY in samples:
        spread["gateway ÷ Portkey overhead"] = (GATEWAY, PORTKEY, True)
    for name, (a, b, overheads) in spread.items():
        per_round = []
        for i in range(0, rounds * ROUND, ROUND):
            base = statistics.median(samples[DIRECT][i:i + ROUND]) if overheads else 0.0
            per_round.append(ratio(statistics.median(samples[a][i:i + ROUND]) - base,
                                   statistics.median(samples[b][i:i + ROUND]) - base) or float("nan"))
        print(f"  {name} per round: min {min(per_round):.2f}×, median {statistics.median(per_round):.2f}×, "
              f"max {max(per_round):.2f}×")

    ttfb = {label: statistics.median(values) for label, values in first_byte.items()}
    total = {label: statistics.median(values) for label, values in whole.items()}
    print("  streamed (stream: true, usage asked), same rounds; TTFB = first byte of the SSE body:")
    print(f"  {'path':36} {'TTFB':>9} {'TTFB over':>12} {'whole over':>12} {'non-streamed':>13}")
    print(f"  {'':36} {'median':>9} {'direct':>12} {'direct':>12} {'over direct':>13}")
    for label in streamed:
        print(f"  {label:36} {ttfb[label] * 1e3:7.2f}ms "
              f"{'—' if label == DIRECT else ms(ttfb[label] - ttfb[DIRECT]):>12} "
              f"{'—' if label == DIRECT else ms(total[label] - total[DIRECT]):>12} "
              f"{'—' if label == DIRECT else ms(over[label]):>13}")
    result["ttfb gw/portkey"] = ratio(
        ttfb[GATEWAY] - ttfb[DIRECT] if GATEWAY in ttfb else None,
        ttfb[PORTKEY] - ttfb[DIRECT] if PORTKEY in ttfb else None,
    )
    result["ttfb gw-floor"] = ttfb[GATEWAY] - ttfb[AIOHTTP] if GATEWAY in ttfb else None
    if GATEWAY in ttfb:
        print(f"  gateway TTFB overhead ÷ Portkey's: {show(result['ttfb gw/portkey'])}; "
              f"− aiohttp floor's: {ms(result['ttfb gw-floor'])}")
    if PORTKEY in ttfb:
        print(f"  (Portkey {PORTKEY_VERSION} waits {PORTKEY_FIRST_CHUNK_WAIT * 1e3:.0f} ms before relaying a stream's "
              f"first event, by design: its TTFB less that wait is over direct by "
              f"{ms(ttfb[PORTKEY] - ttfb[DIRECT] - PORTKEY_FIRST_CHUNK_WAIT)})")

    load: dict[str, Callable[[], Awaitable[Any]]] = {name: plain[name] for name in paths.floor_urls}
    for label in (PORTKEY, LITELLM, GATEWAY, INLINE):
        if label in plain:
            load[label] = plain[label]
    for call in load.values():  # fill every pool with CONCURRENCY connections
        await throughput(call, CONCURRENCY, 0.3)
    rps: dict[str, list[float]] = {label: [] for label in load}
    failures: dict[str, collections.Counter[str]] = {label: collections.Counter() for label in load}
    for _ in range(LOAD_ROUNDS):
        for label, call in load.items():
            rps[label].append(await throughput(call, CONCURRENCY, LOAD_SECONDS, failures[label]))
    rate = {label: statistics.median(values) for label, values in rps.items()}
    print(f"  {CONCURRENCY} concurrent clients, {LOAD_ROUNDS} interleaved rounds of {LOAD_SECONDS:g} s, median:")
    print(f"  {'path':36} {'req/s':>8} {'× Portkey':>10} {'× aiohttp floor':>16}  failed")
    for label, value in rate.items():
        print(f"  {label:36} {value:8.1f} {show(ratio(value, rate.get(PORTKEY))):>10} "
              f"{show(ratio(value, rate[AIOHTTP])):>16}  {sum(failures[label].values())}"
              + "".join(f"\n      {n}× {kind}" for kind, n in failures[label].most_common(2)))
    result["rps gw/portkey"] = ratio(rate.get(GATEWAY), rate.get(PORTKEY))
    result["rps inline/litellm"] = ratio(rate[INLINE], rate[LITELLM])
    print(f"  gateway ÷ Portkey throughput: {show(result['rps gw/portkey'], '>=1.0')}")
    return result


def legs(database_legs: list[tuple[str, str]]) -> list[tuple[str, str, dict[str, str]]]:
    """(name, DATABASE_URL, extra environment): each database, and PostgreSQL again with Redis."""
    out = []
    redis_ok = _servers.redis_reachable()
    for name, url in database_legs:
        if url.startswith("postgres"):
            out.append(("PostgreSQL + pool", url, {"DATABASE_POOL": "true"}))
            if redis_ok:
                out.append(("PostgreSQL + pool + Redis", url, {"DATABASE_POOL": "true", "REDIS_URL": _servers.REDIS_URL}))
            else:
                print(f"PostgreSQL + pool + Redis leg skipped: Redis not reachable ({_servers.REDIS_URL}).")
        else:
            out.append(("SQLite" if name == "sqlite" else name, url, {}))
    return out


async def run_legs(vendor_url: str, litellm_url: str, portkey_url: str | None, floor_urls: dict[str, str]) -> None:
    import aiohttp

    results: dict[str, dict[str, Any]] = {}
    with _servers.database_legs() as database_legs:
        for name, database_url, extra in legs(database_legs):
            print(f"--- {name} ---", flush=True)
            env = _servers.site_env(database_url, **extra)
            token = _servers.prepare_site(env, vendor_url)
            with _servers.site(env) as site_url:
                connector = aiohttp.TCPConnector(limit=200)
                async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
                    paths = Paths(session, vendor_url, litellm_url, portkey_url, floor_urls, site_url, token)
                    results[name] = await measure_leg(paths)
        if len(database_legs) == 1:
            print("PostgreSQL legs skipped: not reachable (BENCH_POSTGRES_URL).")
    print("--- summary (each ratio against baselines of its own leg) ---")
    print(f"  {'leg':26} {'inline÷':>8} {'gw ovh÷':>8} {'gw−floor':>10} {'TTFB gw÷':>9} {'TTFB':>10} "
          f"{'rps gw÷':>8} {'rps inline÷':>12}")
    print(f"  {'':26} {'LiteLLM':>8} {'Portkey':>8} {'overhead':>10} {'Portkey':>9} {'gw−floor':>10} "
          f"{'Portkey':>8} {'LiteLLM':>12}")
    for name, r in results.items():
        print(f"  {name:26} {show(r['inline/litellm']):>8} {show(r['gw/portkey']):>8} "
              f"{'n/a' if r['gw-floor'] is None else ms(r['gw-floor']):>10} {show(r['ttfb gw/portkey']):>9} "
              f"{'n/a' if r['ttfb gw-floor'] is None else ms(r['ttfb gw-floor']):>10} "
              f"{show(r['rps gw/portkey']):>8} {show(r['rps inline/litellm']):>12}")
    print("  targets: inline÷LiteLLM ≤ 1.0×; gateway overhead ÷ Portkey's ≤ 1.0× (stretch: gw−floor, the "
          "aiohttp floor's, ≤ +0.50 ms); gateway req/s ÷ Portkey's ≥ 1.0×")


def main() -> None:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        raise RuntimeError("aiohttp is needed (the client and a floor): .venv/bin/pip install aiohttp") from None
    import uvloop

    binary = litellm_binary()
    script = portkey_script()
    with contextlib.ExitStack() as stack:
        vendor_url = stack.enter_context(_servers.vendor())
        port = _servers.free_port()
        args = [str(binary), "--config", litellm_config(vendor_url), "--host", _servers.HOST, "--port", str(port),
                "--num_workers", "1"]
        log = Path(tempfile.gettempdir()) / f"bench_litellm_{port}.log"
        stack.enter_context(_servers.process(args, env=litellm_env(), port=port, log=str(log)))
        portkey_url = stack.enter_context(portkey(script))
        floor_urls = {AIOHTTP: stack.enter_context(_servers.floor("aiohttp_app", vendor_url)),
                      HTTPX: stack.enter_context(_servers.floor("httpx_app", vendor_url))}
        print(f"vendor {vendor_url}, LiteLLM {LITELLM_VERSION} on :{port}, "
              f"Portkey {PORTKEY_VERSION} {'on ' + portkey_url if portkey_url else 'skipped'}, "
              f"floors {', '.join(floor_urls.values())}, our uvicorn with DEBUG off; client: aiohttp on uvloop")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(run_legs(vendor_url, f"http://{_servers.HOST}:{port}", portkey_url, floor_urls))


if __name__ == "__main__":
    main()
