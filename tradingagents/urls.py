from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from tradingagents.api import api_urls, docs_view

urlpatterns = [
    # The admin is the product's UI; "View site" and a bare host land there.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("api/docs", docs_view, name="api-docs"),
    path("api/v1/", api_urls()),
]
