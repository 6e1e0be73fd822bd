from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents_llm.agents.services import agent_create, assignment_create, llm_config_create, task_update
from agents_llm.seeding import seed_run

pytestmark = pytest.mark.django_db


def _changelists() -> list[str]:
    return [
        reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist") for m in admin.site._registry
    ]


def _grow(n: int, offline_provider, task) -> None:
    for i in range(n):
        agent = agent_create(name=f"extra-{offline_provider.pk}-{i}-{n}", display_name=f"Extra {i}")
        llm_config_create(agent=agent, provider=offline_provider, model_name="offline", priority=0)
        llm_config_create(agent=agent, provider=offline_provider, model_name="offline", priority=1)
        assignment_create(agent=agent, task=task)
        task_update(task=task, data={"description": f"v{i}", "response_schema": {**task.response_schema, "title": f"t{n}-{i}"}})


def test_every_admin_changelist_add_and_change_page_renders_for_a_superuser(client, superuser, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    seed_run()
    client.force_login(superuser)

    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        assert client.get(reverse(f"{prefix}_changelist")).status_code == 200, opts.label
        if model_admin.has_add_permission(_request(superuser)):
            assert client.get(reverse(f"{prefix}_add")).status_code == 200, opts.label
        obj = model._default_manager.first()
        if obj is not None:
            assert client.get(reverse(f"{prefix}_change", args=[obj.pk])).status_code == 200, opts.label


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_changelists_cost_the_same_number_of_queries_as_rows_grow(client, superuser, offline_provider, task):
    client.force_login(superuser)
    _grow(3, offline_provider, task)
    small = {}
    for url in _changelists():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        small[url] = len(ctx.captured_queries)

    _grow(15, offline_provider, task)
    for url in _changelists():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        assert len(ctx.captured_queries) == small[url], f"{url}: {small[url]} → {len(ctx.captured_queries)} queries"
