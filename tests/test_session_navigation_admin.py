"""From a session to its calls and runs and back, in the admin: the session page links
its calls and lists its runs, the calls and runs lists have a session column and
filter, a run's page shows its session, refusals say why, and sessions of one name
can be told apart."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from agents_llm.metering.calls import CallOutcome, call_record
from agents_llm.metering.sessions import session_create
from agents_llm.models import AgentRun, CallStatus, LLMCall, RunStatus

pytestmark = pytest.mark.django_db

REFUSAL = "Budget exceeded in session 'NVDA': its budget is 100 tokens, 0 left"


@pytest.fixture
def two_sessions(superuser, agent, task, offline_provider):
    """Two sessions of one name, each with a call; the first also with a refused call and a run."""
    first, _ = session_create(owner=superuser, name="NVDA", budget_tokens=100)
    second, _ = session_create(owner=superuser, name="NVDA", budget_tokens=100)
    calls = [
        call_record(CallOutcome(agent_id=agent.pk, alias="trader", user_id=superuser.pk, session_id=session.pk,
                                provider_id=offline_provider.pk, model_name="offline", status=CallStatus.SUCCEEDED))
        for session in (first, second)
    ]
    refused = call_record(CallOutcome(
        agent_id=agent.pk, alias="trader", user_id=superuser.pk, session_id=first.pk, status=CallStatus.REFUSED,
        error_code="budget_exceeded", error=REFUSAL,
    ))
    run = AgentRun.objects.create(agent=agent, task=task, session=first, status=RunStatus.SUCCEEDED,
                                  cost=Decimal("0.0123"), input_tokens=3034)
    return {"first": first, "second": second, "calls": calls, "refused": refused, "run": run}


def test_the_session_page_links_its_calls_and_lists_its_runs(client, superuser, two_sessions):
    first, run = two_sessions["first"], two_sessions["run"]
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_meteredsession_change", args=[first.pk])).content.decode()

    for call in LLMCall.objects.filter(session=first):
        assert f'href="{reverse("admin:agents_llm_llmcall_change", args=[call.pk])}"' in html
    assert f'href="{reverse("admin:agents_llm_agentrun_change", args=[run.pk])}"' in html
    assert f'{reverse("admin:agents_llm_llmcall_changelist")}?session={first.pk}' in html
    assert f'{reverse("admin:agents_llm_agentrun_changelist")}?session={first.pk}' in html
    assert REFUSAL.replace("'", "&#x27;") in html
    other = two_sessions["calls"][1]
    assert f'href="{reverse("admin:agents_llm_llmcall_change", args=[other.pk])}"' not in html


def test_the_calls_list_filters_by_session_and_shows_it_and_the_refusals_reason(client, superuser, two_sessions):
    first, second = two_sessions["first"], two_sessions["second"]
    client.force_login(superuser)

    response = client.get(reverse("admin:agents_llm_llmcall_changelist"), {"session": str(first.pk)})

    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].result_list}
    assert shown == set(LLMCall.objects.filter(session=first).values_list("pk", flat=True)) and len(shown) == 2
    html = response.content.decode()
    assert f'href="{reverse("admin:agents_llm_meteredsession_change", args=[first.pk])}"' in html
    assert str(first.pk)[:8] in html and str(second.pk)[:8] in html  # the filter tells them apart
    assert REFUSAL.replace("'", "&#x27;") in html


def test_the_runs_list_filters_by_session_and_a_runs_page_links_its_session(client, superuser, two_sessions):
    first, second, run = two_sessions["first"], two_sessions["second"], two_sessions["run"]
    client.force_login(superuser)

    mine = client.get(reverse("admin:agents_llm_agentrun_changelist"), {"session": str(first.pk)})
    none = client.get(reverse("admin:agents_llm_agentrun_changelist"), {"session": str(second.pk)})
    page = client.get(reverse("admin:agents_llm_agentrun_change", args=[run.pk]))

    assert [r.pk for r in mine.context["cl"].result_list] == [run.pk]
    assert list(none.context["cl"].result_list) == []
    session_url = reverse("admin:agents_llm_meteredsession_change", args=[first.pk])
    assert f'href="{session_url}"' in mine.content.decode()
    assert f'href="{session_url}"' in page.content.decode()


def test_a_malformed_session_filter_shows_no_rows_rather_than_an_error(client, superuser, two_sessions):
    client.force_login(superuser)

    response = client.get(reverse("admin:agents_llm_llmcall_changelist"), {"session": "not-a-uuid"})

    assert response.status_code == 200 and list(response.context["cl"].result_list) == []


def test_sessions_of_one_name_are_told_apart_by_time_and_short_id(client, superuser, two_sessions):
    first, second = two_sessions["first"], two_sessions["second"]
    client.force_login(superuser)

    html = client.get(reverse("admin:agents_llm_meteredsession_changelist")).content.decode()

    assert str(first) != str(second)
    assert str(first).startswith("NVDA (") and str(first.pk)[:8] in str(first)
    assert str(first.pk)[:8] in html and str(second.pk)[:8] in html
