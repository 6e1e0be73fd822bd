"""Real server processes for end-to-end tests: uvicorn and `manage.py rundramatiq`,
on the test's own PostgreSQL database and Redis, on this helper's loopback ports."""

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
from django.conf import settings
from django.db import connection

from tests.fake_vendor import free_port
from tradingagents import server

BASE_DIR = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent

E2E_MARKS = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="end-to-end test of uvicorn + rundramatiq needs REDIS_URL (the PostgreSQL + Redis leg of .ci/run)",
    ),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="end-to-end test needs PostgreSQL: the servers must see the test's database",
    ),
    # Committed rows (not a rolled-back test transaction), so the servers see them.
    pytest.mark.django_db(transaction=True),
]


def database_url() -> str:
    # pytest-django renamed the database to test_<name>; the servers must use that one.
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_until(check, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not start in {timeout} s:\n" + "\n".join(p.read_text()[-3000:] for p in logs))


def listening(process: subprocess.Popen, port: int) -> bool:
    """Whether `process` itself holds the listening socket of 127.0.0.1:`port` (Linux's
    /proc: its socket inodes, and the table of listening TCP sockets)."""
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{process.pid}/fd").iterdir()]
    except OSError:  # gone, or a descriptor closed while it was read
        return False
    inodes = {link[8:-1] for link in links if link.startswith("socket:[")}
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            return True
    return False


def start_uvicorn(env: dict[str, str], log: Path, first_port: int) -> tuple[subprocess.Popen, int]:
    """uvicorn serving the project on the first free port from `first_port`, once that
    very process listens there: an open port alone may be another test run's server on
    this machine (which answers this run's tokens with 401). A port taken meanwhile
    (that run's server was still starting) makes this uvicorn exit: the next port is
    tried."""
    port = first_port
    for _ in range(5):
        port = free_port(port)
        process = subprocess.Popen(
            server.command(BIN, "127.0.0.1", port),
            cwd=BASE_DIR, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            if listening(process, port):
                return process, port
            time.sleep(0.1)
        if process.poll() is None:
            stop([process])
            raise AssertionError(f"uvicorn did not start in 30 s:\n{log.read_text()[-3000:]}")
        port += 1
    raise AssertionError(f"uvicorn could not bind a port from {first_port}:\n{log.read_text()[-3000:]}")


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to each PID this test started, then wait; SIGKILL to its process group
    (rundramatiq's worker children) if it is still there after 15 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def servers(django_db_setup) -> Iterator[int]:
    """The servers for every test of a module (they only need the test database's name)."""
    with running_servers() as port:
        yield port


@contextmanager
def running_servers() -> Iterator[int]:
    """uvicorn (its port is yielded) and a separate rundramatiq, stopped by PID after."""
    import dramatiq

    dramatiq.get_broker().flush_all()  # messages left by earlier tests name rows that are gone
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}
    env.pop("DRAMATIQ_EMBEDDED_WORKER", None)
    logdir = Path(tempfile.mkdtemp(prefix="e2e-"))
    server_log, worker_log = logdir / "server.log", logdir / "worker.log"
    processes: list[subprocess.Popen] = []
    try:
        uvicorn, port = start_uvicorn(env, server_log, 18550)
        processes.append(uvicorn)
        processes.append(subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"],
            cwd=BASE_DIR, env=env, stdout=worker_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
        wait_until(lambda: "ready for action" in worker_log.read_text(), 60, "rundramatiq", [worker_log])
        yield port
    finally:
        stop(processes)


