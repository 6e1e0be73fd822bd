"""/api/docs is served from django-ninja's bundled Swagger UI: no CDN, so it works offline."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_the_api_docs_page_loads_swagger_ui_from_the_apps_own_static_files(client, superuser):
    client.force_login(superuser)

    response = client.get("/api/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert all(a.startswith("/static/") for a in assets), assets
    assert "cdn." not in html and "unpkg" not in html
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not among the static files"


def test_the_openapi_schema_the_docs_read_lists_the_operations(client, superuser):
    client.force_login(superuser)

    schema = client.get("/api/v1/openapi.json").json()

    assert "/api/v1/agents" in schema["paths"]
    assert "/api/v1/usage" in schema["paths"]
