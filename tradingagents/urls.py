from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import path, re_path
from django.views.generic import RedirectView

from agents_llm.gateway import views as gateway
from agents_llm.usage.dashboard import usage_dashboard_view
from tradingagents.api import api_urls, docs_view


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says: the admin's icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    # The admin is the product's UI; a bare host lands there.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/usage/", admin.site.admin_view(usage_dashboard_view), name="usage-dashboard"),
    path("admin/", admin.site.urls),
    path("api/docs", docs_view, name="api-docs"),
    path("api/v1/", api_urls()),
    # The OpenAI-compatible gateway: a client's base URL is http://HOST:PORT/v1.
    path("v1/chat/completions", gateway.chat_completions, name="gateway-chat-completions"),
    path("v1/models", gateway.models, name="gateway-models"),
    re_path(r"^v1/(?P<rest>.*)$", gateway.not_found),
]
