"""Django's ASGI handler, without the two thread hops every request pays for nothing.

Django sends `request_started` with `asend()` and closes the response with
`sync_to_async(response.close)`. Its own receivers of those signals are sync, so each
is a hop to a thread and back, and the first hop of a request starts the request's own
thread (asgiref's ThreadSensitiveContext), which its end joins: together about a
millisecond per request, more than an API read costs. Yet what those receivers do
(reset the query log and close the stale database connections of this request's
context, close its caches, forget its URLconf) is a no-op while the request has opened
no database connection of its own, as the async views that do their database work on
the runner's connection-keeping threads (agents_llm.runner.db_call) never do. So
while Django's receivers are the only ones and the request holds no open connection
(none on the loop, and no sync code run in the request's own thread), they run on the
loop (where they touch nothing that blocks); otherwise, exactly as Django does.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import SyncToAsync, sync_to_async
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.asgi import get_script_prefix
from django.db import close_old_connections, connections, reset_queries
from django.dispatch import Signal
from django.http import HttpResponseBase
from django.core.handlers.base import reset_urlconf
from django.urls import set_script_prefix

# What Django itself connects to the two signals (django.db, django.core.cache,
# django.core.handlers.base).
_STARTED_NOOP_WITHOUT_CONNECTIONS = frozenset({reset_queries, close_old_connections})
_FINISHED_SAFE_ON_LOOP = frozenset({close_old_connections, close_caches, reset_urlconf})


def _only_receivers(signal: Signal, sender: type, allowed: frozenset) -> bool:
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return not async_receivers and all(receiver in allowed for receiver in sync_receivers)


def _no_open_connection() -> bool:
    """True while this request has no database connection open: none in this thread
    (the loop's, where Django never connects), and no sync code has run in the
    request's own thread. A sync view or middleware runs there (asgiref starts that
    thread on the request's first thread-sensitive hop), and the connection it opens
    is closed, or given back to the pool, only by request_finished sent in that
    thread: skipped, a pooled connection was lost per sync request, and the pool ran
    dry after a few dozen."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is not None and context in SyncToAsync.context_to_thread_executor:
        return False
    return all(wrapper.connection is None for wrapper in connections.all(initialized_only=True))


def _closes_request_only(closer: object) -> bool:
    """The request's own close(), which Django adds to every response: it closes the
    spooled body (in memory, or a temporary file) and uploads, with no wait worth a
    thread hop."""
    return getattr(closer, "__func__", None) is ASGIRequest.close and isinstance(getattr(closer, "__self__", None), ASGIRequest)


class ASGIHandler(DjangoASGIHandler):
    async def handle(self, scope, receive, send):  # type: ignore[override]
        # Django 5.2's ASGIHandler.handle, but for the two calls marked (1) and (2).
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await self._request_started(scope)  # (1)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await self._close(error_response)  # (2)
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await self._close(response)  # (2)
        body_file.close()

    async def _request_started(self, scope) -> None:
        if _no_open_connection() and _only_receivers(
            signals.request_started, self.__class__, _STARTED_NOOP_WITHOUT_CONNECTIONS
        ):
            return
        await signals.request_started.asend(sender=self.__class__, scope=scope)

    async def _close(self, response: HttpResponseBase) -> None:
        """response.close(): closes what the response streamed from and sends
        request_finished."""
        if (
            all(_closes_request_only(closer) for closer in response._resource_closers)
            and _no_open_connection()
            and _only_receivers(signals.request_finished, getattr(response, "_handler_class", None), _FINISHED_SAFE_ON_LOOP)
        ):
            response.close()
            return
        await sync_to_async(response.close)()


def get_asgi_application() -> ASGIHandler:
    """django.core.asgi.get_asgi_application, with this handler."""
    import django

    django.setup(set_prefix=False)
    return ASGIHandler()
