"""Real server processes for end-to-end tests: uvicorn and `manage.py rundramatiq`,
on the test's own PostgreSQL database and Redis, uvicorn on a loopback port of its own."""

from __future__ import annotations

import os
import signal
import socket
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
        connection.vendor != "postgresql",
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


def uvicorn_command(fd: int) -> list[str]:
    """How the project is served (tradingagents.server), on the listening socket
    inherited as file descriptor `fd` (`--fd`) rather than on a host and port."""
    argv = server.command(BIN, "127.0.0.1", 0)
    at = argv.index("--host")
    assert argv[at + 2] == "--port", argv
    argv[at:at + 4] = ["--fd", str(fd)]
    return argv


def accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_uvicorn(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """uvicorn serving the project on a loopback port of its own, once it listens there.

    The port is bound here, to port 0 (the kernel picks a free one), and the bound
    socket is handed to uvicorn (`--fd`), which listens on it: no other process (another
    test run's server on this machine) can take the port between its choice and the
    listen, and since only that socket can listen there, the first connection accepted
    is this uvicorn's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        process = subprocess.Popen(
            uvicorn_command(sock.fileno()), pass_fds=(sock.fileno(),),
            cwd=BASE_DIR, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
    finally:
        sock.close()  # uvicorn holds its own copy
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        if accepts(port):
            return process, port
        time.sleep(0.1)
    if process.poll() is None:
        stop([process])
        raise AssertionError(f"uvicorn did not start in 30 s:\n{log.read_text()[-3000:]}")
    raise AssertionError(f"uvicorn exited with {process.returncode} before it listened:\n{log.read_text()[-3000:]}")


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
        uvicorn, port = start_uvicorn(env, server_log)
        processes.append(uvicorn)
        processes.append(subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"],
            cwd=BASE_DIR, env=env, stdout=worker_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
        wait_until(lambda: "ready for action" in worker_log.read_text(), 60, "rundramatiq", [worker_log])
        yield port
    finally:
        stop(processes)


