from __future__ import annotations

from django.contrib import admin
from django.urls import path

from tradingagents.api import api_urls, docs_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/docs", docs_view, name="api-docs"),
    path("api/v1/", api_urls()),
]
