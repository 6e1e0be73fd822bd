"""A run's page is titled by its agent and task, and its times show to the second."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from agents_llm.models import AgentRun, RunStatus

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 3, 4, 9, 15, 42, tzinfo=UTC)


@pytest.fixture
def run(agent, task, assignment):
    row = AgentRun.objects.create(
        agent=agent, task=task, input={"ticker": "NVDA"}, status=RunStatus.SUCCEEDED,
        started_at=WHEN, finished_at=WHEN.replace(second=47),
    )
    AgentRun.objects.filter(pk=row.pk).update(created_at=WHEN.replace(second=40))
    return AgentRun.objects.get(pk=row.pk)


def test_the_run_page_names_the_agent_and_task_not_their_ids(client, superuser, run):
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_agentrun_change", args=[run.pk])).content.decode()

    title = f"Run {run.pk}: Trader on trade-signal (succeeded)"
    assert f"<h1>{title}</h1>" in html
    assert f"&rsaquo; {title}" in html
    assert f"run {run.pk} {run.agent_id}/{run.task_id}" not in html


def test_the_run_page_and_list_show_times_to_the_second(client, superuser, run):
    client.force_login(superuser)

    page = client.get(reverse("admin:agents_llm_agentrun_change", args=[run.pk])).content.decode()
    listing = client.get(reverse("admin:agents_llm_agentrun_changelist")).content.decode()

    assert "2026-03-04 09:15:40" in page and "2026-03-04 09:15:42" in page and "2026-03-04 09:15:47" in page
    assert "2026-03-04 09:15:40" in listing
