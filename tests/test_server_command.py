"""`make run` serves the way every end-to-end test serves (tradingagents.server)."""

from __future__ import annotations

import re
from pathlib import Path

from tradingagents import server
from tradingagents.worker import is_server_process

ROOT = Path(__file__).resolve().parent.parent


def test_make_run_starts_uvicorn_with_the_flags_the_tests_use():
    makefile = (ROOT / "Makefile").read_text()
    flags = re.search(r"^SERVE_FLAGS := (.+)$", makefile, re.M).group(1).split()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]

    assert tuple(flags) == server.FLAGS
    assert f"$(BIN)/uvicorn {server.APPLICATION} --host $(HOST) --port $(PORT) $(SERVE_FLAGS)" in run


def test_the_server_command_is_a_server_process_so_the_embedded_worker_starts_in_it():
    argv = server.command(ROOT / ".venv" / "bin", "127.0.0.1", 8000)

    assert argv[0].endswith("/uvicorn") and argv[1] == server.APPLICATION
    assert is_server_process(argv)
