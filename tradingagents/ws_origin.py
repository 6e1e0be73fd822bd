"""Which web pages may open /ws/events/ with the user's cookies."""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Channels' AllowedHostsOriginValidator, except that a handshake without an
    Origin header is let through to the consumer's own authentication.

    Browsers always send Origin on a websocket handshake, and only a browser attaches
    a session cookie the page did not choose, so checking Origin stops cross-site
    hijacking. Programs (token clients) send no Origin and carry their own token."""

    def __init__(self, application: Any) -> None:
        allowed_hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, allowed_hosts)

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)
