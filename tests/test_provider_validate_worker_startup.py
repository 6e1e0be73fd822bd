"""The embedded worker starts only in a server process (daphne, uvicorn, runserver),
never in tests or management commands."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tradingagents.worker import is_server_process

BIN = Path(sys.executable).parent  # this run's virtualenv, wherever it is


@pytest.mark.parametrize(
    "argv",
    [
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "8000", "tradingagents.asgi:application"],
        ["/usr/local/bin/uvicorn", "tradingagents.asgi:application"],
        ["manage.py", "runserver"],
    ],
)
def test_a_server_process_runs_the_embedded_worker(argv):
    assert is_server_process(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [str(BIN / "pytest"), "-q"],
        ["manage.py", "migrate"],
        ["manage.py", "validateproviders"],
        ["manage.py", "rundramatiq"],
        [],
    ],
)
def test_tests_and_management_commands_do_not(argv):
    assert not is_server_process(argv)


def test_importing_the_asgi_application_in_tests_starts_no_worker():
    import tradingagents.asgi  # noqa: F401
    from tradingagents import worker

    assert worker._embedded is None
