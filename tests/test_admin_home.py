"""The bare site lands on the admin, which names the product (its header links the API docs)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_site_root_redirects_to_the_admin_index(client, superuser):
    client.force_login(superuser)

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/", follow=True).status_code == 200


def test_the_admin_header_and_title_name_the_product_not_django(client, superuser):
    client.force_login(superuser)

    html = client.get("/admin/").content.decode()

    assert "TradingAgents control room" in html
    assert "<title>Agents, models, runs and spend | TradingAgents</title>" in html
    assert "Django administration" not in html
    assert "Django site admin" not in html


def test_the_admin_index_has_a_single_tasks_entry(client, superuser):
    client.force_login(superuser)

    html = client.get("/admin/").content.decode()

    assert html.count(">Tasks</a>") == 1
    assert "/admin/django_dramatiq/" not in html
    assert client.get("/admin/django_dramatiq/task/").status_code == 404
