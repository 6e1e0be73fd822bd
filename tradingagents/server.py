"""How the project is served: uvicorn, on uvloop with the httptools HTTP parser and
the websockets library, one process (`make run` and, with the same flags, every
end-to-end test and benchmark).

uvicorn replaced daphne (issue 13): measured side by side on the same database and
vendor, every request costs about 1.5 ms less (an inline run 15.6 -> 14.0 ms, a gateway
call 5.6 -> 4.3 ms on SQLite), the part daphne's Twisted HTTP layer added. Django has
no ASGI lifespan, so uvicorn is told not to expect one.
"""

from __future__ import annotations

from pathlib import Path

APPLICATION = "tradingagents.asgi:application"
FLAGS = (
    "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio", "--lifespan", "off",
    "--no-access-log", "--timeout-graceful-shutdown", "5",
)


def command(bin_dir: Path | str, host: str, port: int) -> list[str]:
    """The argv of a server process on host:port, with the venv's `bin_dir`."""
    return [str(Path(bin_dir) / "uvicorn"), APPLICATION, "--host", host, "--port", str(port), *FLAGS]
