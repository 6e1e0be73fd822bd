"""The project's URLs plus a bare ninja endpoint returning a constant (the baseline)."""

from __future__ import annotations

from django.urls import path
from ninja import NinjaAPI

from tradingagents.urls import urlpatterns as project_urlpatterns

bare = NinjaAPI(urls_namespace="bare", docs_url=None, openapi_url=None)


@bare.get("/constant", auth=None)
def constant(request):
    return {"ok": True}


urlpatterns = [path("bare/", bare.urls), *project_urlpatterns]
