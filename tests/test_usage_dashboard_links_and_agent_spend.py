"""The usage dashboard opens on the last 30 days and its selector says so; its tables
link to agents and sessions; the agents list and an agent's page show what the agent
spent over those 30 days (without a query per agent); daily spend is drawn as bars."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents_llm.models import AgentRun, LLMCall, MeteredSession
from tests.usage_support import record_usage, usage_world  # noqa: F401

pytestmark = pytest.mark.django_db


def _selected(html: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    chosen = re.search(r'<option value="([^"]*)" selected>', select)
    return chosen.group(1) if chosen else ""


def _value(html: str, name: str) -> str:
    found = re.search(rf'<input type="date" name="{name}" value="([^"]*)"', html)
    return found.group(1) if found else ""


def test_the_dashboard_opens_on_the_last_30_days_and_its_selector_says_so(client, superuser):
    client.force_login(superuser)
    today = timezone.now().date()

    html = client.get("/admin/usage/").content.decode()

    assert _selected(html, "days") == "30"
    assert _value(html, "date_from") == (today - timedelta(days=29)).isoformat()
    assert _value(html, "date_to") == today.isoformat()


def test_chosen_dates_show_as_a_custom_period_and_a_preset_as_itself(client, superuser):
    client.force_login(superuser)

    custom = client.get("/admin/usage/", {"date_from": "2026-05-06", "date_to": "2026-05-20"}).content.decode()
    preset = client.get("/admin/usage/", {"days": "7"}).content.decode()

    assert _selected(custom, "days") == "" and _value(custom, "date_from") == "2026-05-06"
    assert _selected(preset, "days") == "7"
    assert _value(preset, "date_to") == timezone.now().date().isoformat()


def test_the_dashboards_tables_link_to_agents_and_sessions(client, superuser, usage_world):
    record_usage(runs=10, calls=20, days=5, now=timezone.now(), **usage_world)
    client.force_login(superuser)

    html = client.get("/admin/usage/").content.decode()

    for agent in usage_world["agents"]:
        assert f'<a href="{reverse("admin:agents_llm_agentconfig_change", args=[agent.pk])}">{agent.name}</a>' in html
    sessions = MeteredSession.objects.filter(calls__isnull=False).distinct()
    for session in sessions:
        assert f'<a href="{reverse("admin:agents_llm_meteredsession_change", args=[session.pk])}">{session}</a>' in html
    labels = json.loads(html.split('<script id="usage-data" type="application/json">')[1].split("</script>")[0])
    used = MeteredSession.objects.filter(Q(calls__isnull=False) | Q(runs__isnull=False)).distinct()
    assert set(labels["charts"]["sessions"]["labels"]) - {"(no session)"} == {str(s) for s in used}


def test_the_agents_list_shows_each_agents_30_day_spend_without_a_query_per_agent(client, superuser, usage_world):
    client.force_login(superuser)
    now = timezone.now()
    record_usage(runs=3, calls=3, days=3, now=now, **usage_world)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:agents_llm_agentconfig_changelist"))
    from agents_llm.agents.services import agent_create

    for n in range(5):
        agent_create(name=f"more-{n}")
    record_usage(runs=30, calls=40, days=3, now=now, seed=3, **usage_world)
    old = LLMCall.objects.first()
    LLMCall.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=45), cost=Decimal("9"))
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("admin:agents_llm_agentconfig_changelist"))

    assert len(many.captured_queries) == len(few.captured_queries)
    rows = {agent.name: agent for agent in response.context["cl"].result_list}
    since = now - timedelta(days=29)
    for agent in usage_world["agents"]:
        calls = LLMCall.objects.filter(agent=agent, created_at__date__gte=since.date())
        runs = AgentRun.objects.filter(agent=agent, created_at__date__gte=since.date())
        cost = sum((c.cost or 0 for c in [*calls, *runs]), Decimal(0))
        row = rows[agent.name]
        assert (row.spend_cost, row.spend_calls, row.spend_runs) == (cost, calls.count(), runs.count())
    html = response.content.decode()
    assert "Spend (30 days)" in html
    from tradingagents.formatting import money

    assert money(rows["agent-0"].spend_cost) in html


def test_an_agents_page_shows_its_spend_with_links_to_its_calls(client, superuser, usage_world):
    record_usage(runs=5, calls=8, days=2, now=timezone.now(), **usage_world)
    agent = usage_world["agents"][0]
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_agentconfig_change", args=[agent.pk])).content.decode()

    from tradingagents.formatting import money

    cost = sum((r.cost or 0 for r in [*LLMCall.objects.filter(agent=agent), *AgentRun.objects.filter(agent=agent)]),
               Decimal(0))
    assert "Spend, last 30 days" in html and 'data-role="agent-spend"' in html
    assert f"<strong>{money(cost)}</strong>" in html
    assert f'{reverse("admin:agents_llm_llmcall_changelist")}?agent__id__exact={agent.pk}' in html


def test_daily_spend_is_drawn_as_stacked_bars():
    script = open(finders.find("operator/usage_dashboard.js")).read()
    spend = script[script.index('draw("chart-spend-day"'):script.index('draw("chart-tokens-day"')]

    assert 'type: "bar"' in spend and 'type: "line"' not in spend and "x: {stacked: true}" in spend
