"""The innermost middleware: it makes Django run the whole middleware stack in one
thread per request instead of hopping to a thread and back for every middleware.

Under ASGI, Django runs each sync-and-async-capable middleware in async mode. Every
stock one is a `MiddlewareMixin`, whose async mode runs its `process_request` and
`process_response` through `sync_to_async`: with the eight in MIDDLEWARE, about a dozen
thread round trips per request (~3 ms here for an inline run). Django adapts a stack
once where it changes mode instead (`BaseHandler.load_middleware`): below a sync-only
middleware every middleware above it that can run sync does, and the stack is entered
through one `sync_to_async` at its top. This middleware is that sync-only one and does
nothing else: the stack then runs in the request's thread as under WSGI, and an async
view is called back on the event loop (`async_to_sync`), the server's, where its HTTP
clients keep their connections. See "Asynchronous support" in Django's middleware
documentation.

It must stay last in MIDDLEWARE (tests/test_request_cycle.py checks).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase


class OneThreadMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)
