"""Issue 27, item 7: a worker process killed (SIGKILL: no shutdown, no requeue of its
own) with a run it had prefetched: that run is executed by another worker within
seconds of the dead worker's last heartbeat (DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS), not
at the ten-minute re-send of the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from dramatiq.brokers.redis import RedisBroker

from agents_llm.models import AgentRun, RunStatus
from agents_llm.runs.runner import run_create
from tests.dramatiq_support import swapped_broker
from tests.e2e_support import wait_until
from tests.gateway_support import database_url, make_agent, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

HEARTBEAT_TIMEOUT_SECONDS = 2  # the setting, small so that the test is fast
RECOVERED_WITHIN_SECONDS = 30


@contextmanager
def rundramatiq(redis_url: str, log: Path) -> Iterator[subprocess.Popen]:
    """`manage.py rundramatiq` (one process, one thread) in a process group of its own."""
    env = {
        **os.environ, "DATABASE_URL": database_url(), "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1",
        "ENCRYPTION_KEY": settings.ENCRYPTION_KEY, "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DRAMATIQ_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT_SECONDS),
    }
    env.pop("DRAMATIQ_EMBEDDED_WORKER", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "1"],
        cwd=settings.BASE_DIR, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until(lambda: "ready for action" in log.read_text(), 60, "rundramatiq", [log])
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _status(run_id: int) -> str:
    return AgentRun.objects.get(pk=run_id).status


def test_a_run_prefetched_by_a_killed_worker_runs_on_another_worker_within_seconds(
    redis_server, vendor, vendor_provider, task
):
    slow = make_agent("slow", vendor_provider, "vendor-slow")
    fast = make_agent("fast", vendor_provider, "vendor-fast")
    from agents_llm.agents.services import assignment_create

    assignment_create(agent=slow, task=task)
    assignment_create(agent=fast, task=task)
    vendor.script("vendor-slow", {"auto": True, "delay": 20})
    logs = Path(tempfile.mkdtemp(prefix="killed-worker-"))
    queue = redis.Redis(port=redis_server.port)

    with swapped_broker(RedisBroker(url=redis_server.url, socket_connect_timeout=0.5)):
        with rundramatiq(redis_server.url, logs / "first.log") as first:
            in_flight = run_create(agent=slow, task=task, input={"ticker": "NVDA"}).pk
            prefetched = run_create(agent=fast, task=task, input={"ticker": "AMD"}).pk
            # One thread: the slow run is in flight and the fast one waits in that
            # worker's prefetch, no longer in the queue.
            wait_until(lambda: _status(in_flight) == RunStatus.RUNNING, 30, "the first run", [logs / "first.log"])
            wait_until(lambda: queue.llen("dramatiq:default") == 0, 10, "the prefetch", [logs / "first.log"])
            assert _status(prefetched) == RunStatus.QUEUED

            with rundramatiq(redis_server.url, logs / "second.log"):
                os.killpg(first.pid, signal.SIGKILL)
                first.wait(timeout=10)
                killed = time.monotonic()
                while _status(prefetched) != RunStatus.SUCCEEDED and time.monotonic() - killed < RECOVERED_WITHIN_SECONDS:
                    time.sleep(0.2)
                took = time.monotonic() - killed

    queue.close()
    assert _status(prefetched) == RunStatus.SUCCEEDED, (logs / "second.log").read_text()[-3000:]
    assert took < RECOVERED_WITHIN_SECONDS
    print(f"prefetched run recovered {took:.1f} s after the kill")
