"""Live events on the Redis pub/sub channel layer: publish-to-delivery latency to 1,
100 and 1,000 subscribers, and what `events.publish()` costs its caller.

    .venv/bin/python bench/bench_events.py
    BENCH_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/bench_events.py

Set-up: this process publishes with `tradingagents.events.publish` (on-commit hook →
publisher thread → one Redis PUBLISH); a second process holds N subscribers on its
`EventsHub` (tradingagents/consumers.py), each with its own `TopicThrottle` (limit set
out of the way), exactly as N `/ws/events/` sockets are held — only the final socket
write is replaced by noting the time. Latency is taken with the system-wide monotonic
clock, from just before `publish()` is called to the subscriber's write.

Baselines measured in the same run: a bare redis-py PUBLISH → SUBSCRIBE round trip to
one asyncio subscriber (the floor any Redis layer sits on), and for the caller's cost
a synchronous `async_to_sync(layer.group_send)` (what publishing inline would cost).
Targets (issue 6): ≤ 2 ms to 100 subscribers, ≤ 15 ms to 1,000, ≤ 0.2 ms to the caller.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOPIC = "providers"
ROUNDS = {1: 200, 100: 100, 1000: 40}


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


# --- the subscriber process ---------------------------------------------------------

def subscriber_process(url: str, prefix: str, conn) -> None:
    django_setup(url, prefix)
    from tradingagents.consumers import TopicThrottle, events_hub

    class Subscriber:
        """Stands for one websocket: the hub hands it the event, its rate limiter (set
        high enough not to hold anything back here) lets it through, and the "socket
        write" notes the time."""

        def __init__(self, arrivals: list[float], on_all_in) -> None:
            self.throttle = TopicThrottle(10**9, self.write)
            self.arrivals = arrivals
            self.on_all_in = on_all_in

        async def deliver(self, message: dict) -> None:
            await self.throttle.offer(message["id"], message["text"])

        async def write(self, text: str) -> None:
            self.arrivals.append(time.monotonic())
            self.on_all_in()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        hub = events_hub()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command is None:
                break
            n, rounds, topic = command
            arrivals: list[float] = []
            all_in = asyncio.Event()

            def check(arrivals: list[float] = arrivals, n: int = n, all_in: asyncio.Event = all_in) -> None:
                if len(arrivals) == n:
                    all_in.set()

            subscribers = [Subscriber(arrivals, check) for _ in range(n)]
            for subscriber in subscribers:
                await hub.join(topic, subscriber)
            conn.send("ready")
            for _ in range(rounds):
                await all_in.wait()
                # CLOCK_MONOTONIC is system-wide on Linux: the publisher subtracts its
                # own reading taken just before publish().
                conn.send((min(arrivals), statistics.median(arrivals), max(arrivals)))
                arrivals.clear()
                all_in.clear()
            for subscriber in subscribers:
                await hub.leave(topic, subscriber)

    asyncio.run(run())


def django_setup(url: str, prefix: str) -> None:
    os.environ["REDIS_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingagents.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix  # isolated from any server


# --- the publishing process -----------------------------------------------------------

def raw_redis_round_trip(url: str, rounds: int = 200) -> float:
    """Median PUBLISH → SUBSCRIBE latency with bare redis-py, one subscriber."""
    from redis import asyncio as aioredis

    async def run() -> float:
        channel = f"bench-raw-{uuid.uuid4().hex}"
        sub = aioredis.Redis.from_url(url)
        pub = aioredis.Redis.from_url(url)
        pubsub = sub.pubsub()
        await pubsub.subscribe(channel)
        await pubsub.get_message(timeout=1)  # the subscribe confirmation
        samples = []
        for _ in range(rounds):
            started = time.monotonic()
            await pub.publish(channel, b"x")
            while (await pubsub.get_message(timeout=1)) is None:
                pass
            samples.append(time.monotonic() - started)
        await pubsub.aclose()
        await sub.aclose()
        await pub.aclose()
        return statistics.median(samples)

    return asyncio.run(run())


def run() -> None:
    url = redis_url()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    django_setup(url, prefix)
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from tradingagents import events

    layer = get_channel_layer()
    print(f"layer: {type(layer).__name__} on {url}")

    floor = raw_redis_round_trip(url)
    print(f"baseline: bare redis-py PUBLISH→SUBSCRIBE round trip, median {floor * 1e3:.3f} ms")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=subscriber_process, args=(url, prefix, child), daemon=True)
    process.start()
    try:
        print(f"{'subscribers':>11}  {'first':>9}  {'median':>9}  {'last':>9}  {'last p90':>9}  {'last × bare':>11}  target")
        for n, rounds in ROUNDS.items():
            parent.send((n, rounds, TOPIC))
            assert parent.recv() == "ready"
            time.sleep(0.2)  # let the subscriptions settle
            rows = []
            for i in range(rounds):
                started = time.monotonic()
                events.publish(TOPIC, "validation", i, {"i": i})
                rows.append([t - started for t in parent.recv()])
            first, median, last = (statistics.median(r[k] for r in rows) for k in range(3))
            lasts = sorted(r[2] for r in rows)
            p90 = lasts[int(len(lasts) * 0.9) - 1]
            target = {100: "≤ 2 ms", 1000: "≤ 15 ms"}.get(n, "")
            print(f"{n:>11}  {first * 1e3:>6.3f} ms  {median * 1e3:>6.3f} ms  {last * 1e3:>6.3f} ms  "
                  f"{p90 * 1e3:>6.3f} ms  {last / floor:>10.1f}×  {target}")
    finally:
        parent.send(None)
        process.join(10)

    # The caller's cost: publish() outside a transaction runs its on-commit hook at once.
    calls = 5000
    costs = []
    for i in range(calls):
        started = time.perf_counter()
        events.publish(TOPIC, "updated", i, {"i": i, "name": "bench"})
        costs.append(time.perf_counter() - started)
    events._publisher.drain()
    inline = []
    send = async_to_sync(layer.group_send)
    for i in range(300):
        message = events.frame(TOPIC, "updated", i, {"i": i, "name": "bench"})
        started = time.perf_counter()
        send(events.group_name(TOPIC), message)
        inline.append(time.perf_counter() - started)
    cost, inline_cost = statistics.median(costs), statistics.median(inline)
    print(f"publish() cost to the caller: median {cost * 1e6:.1f} µs (target ≤ 200 µs); "
          f"inline async_to_sync(group_send) {inline_cost * 1e6:.1f} µs → publish() is "
          f"{inline_cost / cost:.1f}× cheaper for the caller")


def main() -> None:
    """Run in a fresh process: it needs the Redis layer, whatever the caller configured."""
    env = {**os.environ, "REDIS_URL": redis_url(), "DJANGO_SETTINGS_MODULE": "tradingagents.settings"}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--run"], env=env, check=True, cwd=ROOT)


if __name__ == "__main__":
    if "--run" in sys.argv:
        run()
    else:
        main()
