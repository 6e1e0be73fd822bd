from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingagents.settings")
from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from agents_llm.gateway.asgi import GatewayASGI  # noqa: E402
from tradingagents.consumers import EventsConsumer  # noqa: E402
from tradingagents.worker import start_embedded_worker_if_serving  # noqa: E402
from tradingagents.ws_origin import BrowserOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Static files (admin CSS/JS, the schema builder) are served by the app itself so
        # `make run` needs no web server in front; behind a proxy, set SERVE_STATIC=false.
        # The OpenAI-compatible gateway (/v1/) skips Django's request cycle (see its module).
        "http": GatewayASGI(ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app),
        "websocket": BrowserOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/events/", EventsConsumer.as_asgi())]))
        ),
    }
)

# Embedded mode (StubBroker): this server process also runs the Dramatiq worker.
start_embedded_worker_if_serving()
