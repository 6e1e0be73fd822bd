"""The periodic sweep's lock lives in the cache; with Redis down the sweep still runs
(runs and providers saved meanwhile are not left waiting for Redis)."""

from __future__ import annotations

import threading

from tradingagents import worker


def test_the_sweep_runs_while_the_cache_is_down(cache_on_redis, monkeypatch):
    swept = threading.Event()
    monkeypatch.setattr(worker, "run_periodic_jobs", swept.set)
    cache_on_redis.stop()
    sweep = worker.PeriodicSweep(interval=0.05)

    thread = threading.Thread(target=sweep._loop, daemon=True)
    thread.start()
    try:
        assert swept.wait(5)
    finally:
        sweep._stop.set()
        thread.join(5)
