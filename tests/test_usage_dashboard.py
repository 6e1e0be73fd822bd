"""The admin's usage dashboard: linked and summarised on the index, charts drawn with
the vendored Chart.js, tables whose figures equal GET /api/v1/usage's, and a query
count that does not grow with the rows."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents_llm.models import AgentRun, LLMCall
from tests.api_support import client_for
from tests.usage_support import record_usage, recorded_usage, usage_world  # noqa: F401

pytestmark = pytest.mark.django_db

PERIOD = {"date_from": "2026-05-06", "date_to": "2026-05-20"}


def _data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="usage-data" type="application/json">') + len('<script id="usage-data" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)])


def test_the_index_links_to_the_dashboard_and_sums_up_the_last_seven_days(client, superuser, recorded_usage):
    client.force_login(superuser)

    html = client.get("/admin/").content.decode()

    assert 'id="usage-summary"' in html
    assert 'href="/admin/usage/"' in html
    assert "spent in the last 7 days" in html


def test_the_index_summary_shows_the_same_spend_as_the_selector(client, superuser, usage_world):
    from django.utils import timezone

    from agents_llm.usage.selectors import day_bounds, usage_total
    from tradingagents.formatting import count as thousands
    from tradingagents.formatting import money as usd

    record_usage(runs=30, calls=50, days=5, now=timezone.now(), **usage_world)
    client.force_login(superuser)
    today = timezone.now().date()
    since, until = day_bounds(today - timedelta(days=6), today)
    total = usage_total(since=since, until=until)

    html = client.get("/admin/").content.decode()

    assert f'<strong data-role="spend-period">{usd(total.cost)}</strong>' in html
    assert f"{thousands(total.runs)} / {thousands(total.calls)}" in html
    assert (total.runs, total.calls) == (30, 50)


def test_the_dashboard_draws_its_charts_with_the_vendored_chartjs(client, superuser, recorded_usage):
    client.force_login(superuser)

    response = client.get("/admin/usage/", PERIOD)

    html = response.content.decode()
    assert response.status_code == 200
    assert '<script src="/static/vendor/chartjs/chart.umd.min.js" defer></script>' in html
    assert finders.find("vendor/chartjs/chart.umd.min.js").startswith(str(finders.find("vendor/chartjs")))
    assert open(finders.find("vendor/chartjs/chart.umd.min.js")).read(40).startswith("/*!\n * Chart.js v4.6.1")
    for canvas in ("chart-spend-day", "chart-tokens-day", "chart-agents", "chart-models", "chart-sessions"):
        assert f'id="{canvas}"' in html
    assert "cdn" not in html.lower()


def test_the_dashboard_totals_cover_runs_and_calls_of_the_period(client, superuser, recorded_usage):
    client.force_login(superuser)

    data = _data(client.get("/admin/usage/", PERIOD))

    total = data["total"]
    assert (total["runs"], total["calls"]) == (AgentRun.objects.count(), LLMCall.objects.count())
    assert Decimal(total["cost"]) == sum((r.cost or 0 for r in [*AgentRun.objects.all(), *LLMCall.objects.all()]), Decimal(0))
    assert sum(row["count"] for row in data["by_day"]) == total["count"]
    assert sum(row["count"] for row in data["by_session"]) == total["count"]
    assert len(data["by_day"]) == 15  # every day of the period, also the empty ones
    failed = sum(1 for r in LLMCall.objects.all() if r.status != "succeeded") + AgentRun.objects.filter(status="failed").count()
    assert total["failed"] + total["refused"] == failed


FIELDS = ("runs", "calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def _by_model(rows: list[dict]) -> dict[str, dict]:
    """The dashboard shows provider / model: add it up by model, as the API groups."""
    out: dict[str, dict] = {}
    for row in rows:
        model = row["key"].split(" / ", 1)[1]
        entry = out.setdefault(model, {**dict.fromkeys(FIELDS, 0), "cost": Decimal(0), "failed": 0, "refused": 0, "fell_back": 0})
        for name in (*FIELDS, "failed", "refused", "fell_back"):
            entry[name] += row[name]
        entry["cost"] += Decimal(row["cost"])
    return out


@pytest.mark.parametrize("group_by, table", [("agent", "by_agent"), ("model", None), ("day", "by_day"), ("session", "by_session")])
def test_the_dashboard_figures_equal_the_usage_apis(client, superuser, recorded_usage, group_by, table):
    client.force_login(superuser)
    api = client_for(superuser)

    data = _data(client.get("/admin/usage/", PERIOD))
    response = api.get("/usage", group_by=group_by, **PERIOD)

    assert response.status_code == 200
    rows = {row["key"]: row for row in response.json()["rows"]}
    shown = _by_model(data["by_model"]) if table is None else {row["key"]: row for row in data[table] if row["count"]}
    assert set(shown) == set(rows)
    for key, row in rows.items():
        for name in FIELDS:
            assert shown[key][name] == row[name], (key, name)
        assert Decimal(shown[key]["cost"]) == Decimal(row["cost"]), key
        assert shown[key]["failed"] + shown[key]["refused"] == row["failed"], key
        assert shown[key]["fell_back"] == row["fell_back"], key
    total = response.json()["total"]
    assert (data["total"]["runs"], data["total"]["calls"]) == (total["runs"], total["calls"]) == (60, 140)
    assert Decimal(data["total"]["cost"]) == Decimal(total["cost"])


def test_the_dashboard_costs_the_same_queries_for_few_or_many_rows(client, superuser, usage_world):
    client.force_login(superuser)
    record_usage(runs=3, calls=3, **usage_world)
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/usage/", PERIOD)
    record_usage(runs=120, calls=300, seed=11, **usage_world)
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/usage/", PERIOD)

    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_period_preset_and_a_reversed_range_are_understood(client, superuser, recorded_usage):
    client.force_login(superuser)

    preset = client.get("/admin/usage/", {"days": "7"})
    reversed_range = client.get("/admin/usage/", {"date_from": "2026-05-20", "date_to": "2026-05-06"})

    assert preset.status_code == 200 and len(_data(preset)["by_day"]) == 7
    assert reversed_range.status_code == 200
    assert "The start is after the end." in reversed_range.content.decode()


def test_only_staff_who_may_view_runs_see_the_dashboard(client, reader, outsider, recorded_usage):
    from django.contrib.auth.models import User

    client.force_login(reader)
    assert client.get("/admin/usage/").status_code == 200
    nobody = User.objects.create_user("plain", password="x-pass-123", is_staff=True)
    client.force_login(nobody)
    assert client.get("/admin/usage/").status_code == 403
    assert 'id="usage-summary"' not in client.get("/admin/").content.decode()
    client.logout()
    assert client.get("/admin/usage/").status_code == 302
