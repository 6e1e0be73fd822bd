"""Django's stock middleware, without a thread hop per hook on the event loop.

Under ASGI, Django runs each `process_request`/`process_response` of an old-style
middleware through `sync_to_async`: about a dozen hops to a thread and back per
request, which cost more than the whole of a cheap API call. The hooks below only
read and set headers, cookies and lazy objects, so they run on the loop; whatever
could touch the database or the disk (saving a session, storing messages, the CSRF
check of a view that is not exempt) still runs in a thread as before. Sync (WSGI,
test client) requests are untouched.
"""

from __future__ import annotations

import functools
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Message
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django.middleware.security import SecurityMiddleware as _Security


class _OnTheLoop:
    """`__acall__` calling the hooks directly; `_response_needs_thread` says when
    process_response must run in a thread after all."""

    process_request: Any
    process_response: Any
    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self._response_needs_thread(request):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response

    def _response_needs_thread(self, request: HttpRequest) -> bool:
        return False


class SecurityMiddleware(_OnTheLoop, _Security):
    pass


class CommonMiddleware(_OnTheLoop, _Common):
    pass


class XFrameOptionsMiddleware(_OnTheLoop, _XFrameOptions):
    pass


class AuthenticationMiddleware(_OnTheLoop, _Authentication):
    pass


class SessionMiddleware(_OnTheLoop, _Session):
    def _response_needs_thread(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(_OnTheLoop, _Message):
    def _response_needs_thread(self, request: HttpRequest) -> bool:
        storage = getattr(request, "_messages", None)
        # Storing messages may load the session.
        return storage is not None and (storage.used or storage.added_new)


class CsrfViewMiddleware(_OnTheLoop, _Csrf):
    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if settings.CSRF_USE_SESSIONS:  # then every hook reads or writes the session
            self.__acall__ = functools.partial(_Csrf.__acall__, self)  # type: ignore[method-assign]
        elif iscoroutinefunction(get_response):
            self.process_view = self._process_view_async  # type: ignore[method-assign]

    async def _process_view_async(
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> Any:
        if getattr(callback, "csrf_exempt", False) or getattr(request, "csrf_processing_done", False):
            return None
        # The check may read the POST body (and so the disk, for uploads).
        return await sync_to_async(_Csrf.process_view, thread_sensitive=True)(
            self, request, callback, callback_args, callback_kwargs
        )
