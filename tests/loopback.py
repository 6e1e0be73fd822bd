"""What every loopback fake vendor of the tests shares: a threaded HTTP server on a
free port of its own range, and JSON answers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(handler: type[BaseHTTPRequestHandler], ports: range) -> ThreadingHTTPServer:
    """`handler` served on the first free port of `ports`, in a daemon thread."""
    last_error: OSError | None = None
    for port in ports:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            last_error = exc
            continue
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    raise RuntimeError(f"no free loopback port in {ports}") from last_error


class Loopback:
    """A fake vendor's life cycle: `_listen` in start(), stop() when done."""

    _server: ThreadingHTTPServer | None = None
    port: int = 0

    def _listen(self, handler: type[BaseHTTPRequestHandler], ports: range) -> None:
        self._server = serve(handler, ports)
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
