"""One format for money, counts and times on every admin page: `$0.0123` (to 4
places; tiny amounts to 8), `3,034`, `2026-12-07 11:28:49` in the server's time zone.
The pages used to mix `$0.0000`, `0`, `$0.5`, `0.9894`, `Dec. 7, 2026, 11:27 a.m.`
and `692 of 200000`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from agents_llm.metering.calls import CallOutcome, call_record
from agents_llm.metering.pricing import TokenUsage
from agents_llm.metering.sessions import session_create
from agents_llm.models import AgentRun, CallStatus, RunStatus
from tradingagents.formatting import count, money, when

pytestmark = pytest.mark.django_db

OTHER_FORMATS = [
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.? \d{1,2}, \d{4}",  # Django's "Dec. 7, 2026"
    r"\d (?:a\.m\.|p\.m\.|noon|midnight)",
    r"(?<![\d.,$])\d{4,}(?: of| tokens| / )",  # a count without separators beside a label
    r"\$\d+(?:\.\d{1,3})?(?![\d,.])",  # $1, $0.5
    r"\b0\.\d{5,}\b",  # a bare amount: 0.01230000
]


@pytest.mark.parametrize("value, shown", [
    (None, "—"), (Decimal(0), "$0.0000"), (Decimal("0.5"), "$0.5000"), (Decimal("1"), "$1.0000"),
    (Decimal("0.98940000"), "$0.9894"), (Decimal("1234.5"), "$1,234.5000"), (Decimal("0.00000150"), "$0.0000015"),
    (Decimal("0.0001"), "$0.0001"),
])
def test_money_has_one_format(value, shown):
    assert money(value) == shown


def test_counts_and_times_have_one_format(settings):
    assert (count(3034), count(0), count(None)) == ("3,034", "0", "—")
    assert when(datetime(2026, 12, 7, 11, 28, 49, tzinfo=UTC)) == "2026-12-07 11:28:49"
    settings.TIME_ZONE = "Europe/Berlin"
    assert when(datetime(2026, 12, 7, 11, 28, 49, tzinfo=UTC)) == "2026-12-07 12:28:49"


@pytest.fixture
def spent(superuser, agent, task, openai_provider):
    session, _ = session_create(owner=superuser, name="NVDA", budget_usd=Decimal("0.5"), budget_tokens=200000)
    usage = TokenUsage(input_tokens=3034, output_tokens=692)
    cost = Decimal("0.98940000")
    call = call_record(CallOutcome(
        agent_id=agent.pk, alias="trader", user_id=superuser.pk, session_id=session.pk, provider_id=openai_provider.pk,
        model_name="gpt-4o", status=CallStatus.SUCCEEDED, usage=usage, cost=cost, latency_ms=1250,
    ))
    run = AgentRun.objects.create(
        agent=agent, task=task, session=session, status=RunStatus.SUCCEEDED, provider=openai_provider,
        model_name="gpt-4o", input_tokens=12345, output_tokens=678, cost=Decimal("0.01230000"), requests=1,
    )
    return {"session": session, "call": call, "run": run}


def _text(html: str) -> str:
    """The page's visible text, roughly: no tags, scripts or attribute values."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_every_admin_page_of_spend_uses_the_one_format(client, superuser, spent, agent):
    session, call, run = spent["session"], spent["call"], spent["run"]
    client.force_login(superuser)
    pages = {
        "sessions": reverse("admin:agents_llm_meteredsession_changelist"),
        "session": reverse("admin:agents_llm_meteredsession_change", args=[session.pk]),
        "calls": reverse("admin:agents_llm_llmcall_changelist"),
        "call": reverse("admin:agents_llm_llmcall_change", args=[call.pk]),
        "runs": reverse("admin:agents_llm_agentrun_changelist"),
        "run": reverse("admin:agents_llm_agentrun_change", args=[run.pk]),
        "agents": reverse("admin:agents_llm_agentconfig_changelist"),
        "agent": reverse("admin:agents_llm_agentconfig_change", args=[agent.pk]),
        "dashboard": reverse("usage-dashboard"),
        "index": reverse("admin:index"),
        "tokens": reverse("admin:tradingagents_apitoken_changelist"),
        "providers": reverse("admin:providers_llmprovider_changelist"),
    }
    texts = {}
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        texts[name] = _text(response.content.decode())
        for pattern in OTHER_FORMATS:
            found = re.search(pattern, texts[name])
            assert found is None, (name, pattern, texts[name][max(0, found.start() - 60):found.end() + 60])

    assert "$0.9894" in texts["call"] and "$0.9894" in texts["calls"] and "$0.9894" in texts["session"]
    assert "$0.9894 of $0.5000" in texts["session"] and "3,726 of 200,000 tokens" in texts["session"]
    assert "3,034" in texts["call"] and "12,345" in texts["run"] and "12,345 / 678" in texts["runs"]
    assert "$0.0123" in texts["run"] and "$1.0017" in texts["dashboard"] and "$1.0017" in texts["agents"]
    assert when(call.created_at) in texts["call"] and when(session.created_at) in texts["session"]
    assert when(agent.updated_at) in texts["agent"]  # Django's own display of a date and time
