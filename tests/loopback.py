"""What every loopback fake vendor of the tests shares: a threaded HTTP server on a
port the kernel picks (bound to port 0, so no other process can take it between the
choice and the bind), counting the connections it accepted, and JSON answers; and
ports where connections are refused."""

from __future__ import annotations

import json
import socket
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

    def _events(self, payloads: list[dict[str, Any]]) -> None:
        """Server-sent events, one a payload, then `[DONE]`; the connection closes."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for payload in payloads:
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class CountingServer(ThreadingHTTPServer):
    accepted = 0  # connections accepted so far

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1  # the serving thread's alone: no lock needed
        super().process_request(request, client_address)


def serve(handler: type[BaseHTTPRequestHandler]) -> CountingServer:
    """`handler` served on a loopback port of its own, in a daemon thread (the port is
    the server's `server_address[1]`)."""
    server = CountingServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


_refusing: list[socket.socket] = []


def refused_port() -> int:
    """A loopback port where every connection is refused, for 'the vendor (or broker)
    is down': a socket of this process is bound to it and never listens, and is kept
    until the test run ends, so no other process can start listening there."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _refusing.append(sock)
    return sock.getsockname()[1]


class Loopback:
    """A fake vendor's life cycle: `_listen` in start(), stop() when done."""

    _server: CountingServer | None = None
    port: int = 0

    @property
    def accepted(self) -> int:
        """The connections clients opened to this server so far."""
        assert self._server is not None
        return self._server.accepted

    def _listen(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = serve(handler)
        self.port = self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
