"""The agent runs list loads the live script that shows new and finished runs."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from agents_llm.models import AgentRun

pytestmark = pytest.mark.django_db


def test_the_runs_list_subscribes_to_run_events(client, superuser):
    assert AgentRun in admin.site._registry
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_agentrun_changelist")).content.decode()

    assert "live/events.js" in html
    assert "live/runs.js" in html
