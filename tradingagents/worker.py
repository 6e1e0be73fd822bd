"""Background work that runs inside other processes.

- The embedded worker: with the StubBroker (no Redis), messages live in this process's
  memory, so the web server process must also run the worker. `asgi.py` starts it
  when the process is a server (daphne, uvicorn, `runserver`), never in tests or
  management commands.
- `PeriodicSweep`, a Dramatiq middleware (see DRAMATIQ_BROKER["MIDDLEWARE"]): every
  worker process, embedded or `rundramatiq`, runs the provider sweep every minute;
  a cache lock lets one process per minute do it when several run.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from pathlib import Path

import dramatiq
from django.conf import settings
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 60
_SERVERS = {"daphne", "uvicorn", "hypercorn", "gunicorn"}

_embedded: dramatiq.Worker | None = None


def is_server_process(argv: list[str] | None = None) -> bool:
    argv = sys.argv if argv is None else argv
    if not argv:
        return False
    return Path(argv[0]).name in _SERVERS or (len(argv) > 1 and argv[1] == "runserver")


def start_embedded_worker(*, threads: int = 4) -> dramatiq.Worker:
    """Run a Dramatiq worker on threads of this process (idempotent)."""
    global _embedded
    if _embedded is None:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")  # declares every actor, hence every queue
        _embedded = dramatiq.Worker(dramatiq.get_broker(), worker_threads=threads)
        _embedded.start()
        atexit.register(stop_embedded_worker)
        logger.info("embedded Dramatiq worker started (%s threads)", threads)
    return _embedded


def stop_embedded_worker() -> None:
    global _embedded
    if _embedded is not None:
        _embedded.stop(timeout=5_000)
        _embedded = None


def start_embedded_worker_if_serving() -> None:
    if settings.DRAMATIQ_EMBEDDED_WORKER and is_server_process():
        start_embedded_worker()


def run_periodic_jobs() -> None:
    """Run every sweep of settings.PERIODIC_JOBS (dotted paths, each returning counts).

    A sweep that fails on its database connection (PostgreSQL ended it: a restart,
    pg_terminate_backend) is run once more on a new connection: every sweep is safe to
    run twice, and the worker should not miss a minute's sweep over it."""
    from django.db import InterfaceError, OperationalError, close_old_connections
    from django.utils.module_loading import import_string

    for path in settings.PERIODIC_JOBS:
        try:
            counts = import_string(path)()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("%s failed on its database connection (%s); running it again", path, type(exc).__name__)
            close_old_connections()  # the connection that failed is dropped
            counts = import_string(path)()
        if counts.get("queued") or counts.get("failed"):
            logger.info("%s: %s queued, %s could not be queued", path, counts.get("queued"), counts.get("failed"))


class PeriodicSweep(Middleware):
    def __init__(self, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._stop = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        threading.Thread(target=self._loop, name="provider-sweep", daemon=True).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def _loop(self) -> None:
        from django.core.cache import cache
        from django.db import close_old_connections

        while not self._stop.wait(self.interval):
            try:
                try:
                    mine = cache.add("tradingagents:periodic-sweep", 1, timeout=max(1, int(self.interval) - 1))
                except Exception as exc:
                    # The lock only saves duplicate work (every sweep is safe to run twice);
                    # with the cache down, each process sweeps rather than none.
                    logger.warning("sweep lock unavailable (%s); sweeping anyway", type(exc).__name__)
                    mine = True
                if mine:
                    run_periodic_jobs()
            except Exception:
                logger.exception("periodic sweep failed; trying again in %s s", self.interval)
            finally:
                close_old_connections()
