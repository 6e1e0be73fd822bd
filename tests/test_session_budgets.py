"""Budgets that spend what they are given: a request waits while other requests'
reservations stand in the way and is refused only when what is spent plus its own worst
case exceeds the budget; prompt and output tokens at their own prices; free calls pass
a USD budget; budgets can be changed; reservations a dead process left are swept; the
money adds up exactly (integer units) on every database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from agents_llm.metering import budgets
from agents_llm.metering.budgets import Ask, BudgetRefused
from agents_llm.metering.sessions import session_create
from agents_llm.models import LLMCall, MeteredSession, Reservation
from providers.catalog import Price
from tests.api_support import ApiClient, client_for
from tests.gateway_support import GatewayClient, caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(caller) -> ApiClient:
    return client_for(caller)


def _totals_match_rows(session: MeteredSession) -> None:
    session.refresh_from_db()
    rows = list(LLMCall.objects.filter(session=session).values_list("input_tokens", "output_tokens", "cost"))
    assert session.spent_tokens == sum(i + o for i, o, _ in rows)
    assert session.spent_usd == sum((c for _, _, c in rows if c is not None), Decimal(0))
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)
    assert not Reservation.objects.filter(session=session).exists()


def test_a_request_that_fits_once_others_settle_waits_instead_of_being_refused(caller):
    session, _ = session_create(owner=caller, name="waits", budget_tokens=1000)
    ask = Ask(prompt_tokens=100, max_tokens=500, price=None, free=True)

    first = budgets.reserve(session_id=session.pk, ask=ask)
    second = budgets.reserve(session_id=session.pk, ask=ask)  # 600 reserved: 600 more do not fit beside it

    assert first is not None and first.tokens == 600
    assert second is None
    session.refresh_from_db()
    assert (session.status, session.reserved_tokens) == ("open", 600)

    budgets.account(session_id=session.pk, holds=[first], tokens=150, usd=Decimal(0))
    third = budgets.reserve(session_id=session.pk, ask=ask)

    session.refresh_from_db()
    assert third is not None
    assert (session.status, session.spent_tokens, session.reserved_tokens) == ("open", 150, 600)


def test_a_request_is_refused_and_the_session_over_budget_only_when_spent_plus_its_worst_case_exceeds_it(caller):
    session, _ = session_create(owner=caller, name="refuses", budget_tokens=1000)
    ask = Ask(prompt_tokens=100, max_tokens=500, price=None, free=True)
    budgets.account(session_id=session.pk, holds=[], tokens=450, usd=Decimal(0))

    with pytest.raises(BudgetRefused) as refused:
        budgets.reserve(session_id=session.pk, ask=ask)

    assert refused.value.code == "budget_exceeded"
    assert "100 prompt tokens plus 500 output tokens" in refused.value.message
    session.refresh_from_db()
    assert (session.status, session.reserved_tokens) == ("over_budget", 0)


def test_prompt_tokens_are_reserved_at_the_input_price_and_output_tokens_at_the_output_price(caller):
    session, _ = session_create(owner=caller, name="prices", budget_usd=Decimal("2"))
    ask = Ask(prompt_tokens=1000, max_tokens=100, price=Price(Decimal("0.5"), Decimal("10")))

    hold = budgets.reserve(session_id=session.pk, ask=ask)

    assert hold is not None and hold.usd == Decimal("1.5")  # 1k x $0.5 + 0.1k x $10, not 1.1k x $10
    session.refresh_from_db()
    assert session.reserved_usd == Decimal("1.5")


def test_without_a_cap_a_budgeted_request_gets_the_default_cap_and_it_is_sent(api, vendor, vendor_provider, settings):
    settings.SESSION_DEFAULT_MAX_TOKENS = 300
    make_agent("trader", vendor_provider, "vendor-trader")
    body = api.post("/sessions", {"name": "cap", "budget_tokens": 100000}).json()

    response = GatewayClient(body["token"]).chat({"model": "trader", "messages": user_message()})

    assert response.status_code == 200
    assert vendor.seen()[0].body["max_tokens"] == 300


def test_the_last_tokens_of_a_budget_are_given_to_a_shorter_answer_rather_than_refused(caller):
    session, _ = session_create(owner=caller, name="last tokens", budget_tokens=1000)
    budgets.account(session_id=session.pk, holds=[], tokens=700, usd=Decimal(0))

    hold = budgets.reserve(session_id=session.pk, ask=Ask(prompt_tokens=100, max_tokens=None, price=None, free=True))

    assert hold is not None and hold.max_tokens == 200


def test_a_free_call_passes_a_usd_budget_even_in_an_over_budget_session_and_a_token_budget_still_counts_it(
    api, gateway, offline_provider,
):
    make_agent("trader", offline_provider, "offline")
    body = api.post("/sessions", {"name": "free", "budget_usd": "0.01", "budget_tokens": 100000}).json()
    MeteredSession.objects.filter(pk=body["id"]).update(status="over_budget")

    response = GatewayClient(body["token"]).chat({"model": "trader", "messages": user_message(), "max_tokens": 50})

    assert response.status_code == 200, response.content
    session = MeteredSession.objects.get(pk=body["id"])
    assert session.spent_usd == 0 and session.spent_tokens > 0
    _totals_match_rows(session)


def test_money_adds_up_exactly_over_many_calls(api, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader",
               cost_per_1k_input_tokens=Decimal("0.00123"), cost_per_1k_output_tokens=Decimal("0.00457"))
    body = api.post("/sessions", {"name": "exact", "budget_usd": "0.1"}).json()
    client = GatewayClient(body["token"])

    for _ in range(12):
        assert client.chat({"model": "trader", "messages": user_message(), "max_tokens": 30}).status_code == 200

    session = MeteredSession.objects.get(pk=body["id"])
    _totals_match_rows(session)
    assert session.spent_usd == LLMCall.objects.filter(session=session).aggregate(c=Sum("cost"))["c"]


# Changing a budget -----------------------------------------------------------------


def test_raising_a_budget_reopens_an_over_budget_session_and_is_kept_in_its_history(api, caller, vendor, vendor_provider):
    make_agent("trader", vendor_provider, "vendor-trader")
    body = api.post("/sessions", {"name": "raise me", "budget_tokens": 200}).json()
    client = GatewayClient(body["token"])
    refused = client.chat({"model": "trader", "messages": user_message(), "max_tokens": 500})
    assert refused.status_code == 402
    assert MeteredSession.objects.get(pk=body["id"]).status == "over_budget"

    changed = api.patch(f"/sessions/{body['id']}", {"budget_tokens": 5000})

    assert changed.status_code == 200, changed.content
    assert (changed.json()["status"], changed.json()["budget_tokens"]) == ("open", 5000)
    assert client.chat({"model": "trader", "messages": user_message(), "max_tokens": 500}).status_code == 200
    session = MeteredSession.objects.get(pk=body["id"])
    latest = session.history.first()
    assert (latest.budget_tokens, latest.history_user) == (5000, caller)
    assert list(session.history.values_list("budget_tokens", flat=True)) == [5000, 200]


def test_a_bad_budget_change_is_a_422_naming_the_field_and_changes_nothing(api):
    body = api.post("/sessions", {"name": "keep", "budget_usd": "0.50"}).json()

    response = api.patch(f"/sessions/{body['id']}", {"budget_usd": "-1"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == "budget_usd"
    assert MeteredSession.objects.get(pk=body["id"]).budget_usd == Decimal("0.5")


def test_another_users_budget_is_changed_only_by_a_user_with_the_change_permission(api, reader, editor):
    body = api.post("/sessions", {"name": "mine", "budget_tokens": 100}).json()

    refused = client_for(reader).patch(f"/sessions/{body['id']}", {"budget_tokens": 10**9})
    changed = client_for(editor).patch(f"/sessions/{body['id']}", {"budget_tokens": 300})

    assert refused.status_code in (403, 404)
    assert changed.status_code == 200 and changed.json()["budget_tokens"] == 300
    assert MeteredSession.objects.get(pk=body["id"]).history.first().history_user == editor


def test_a_closed_sessions_budget_cannot_change(api):
    body = api.post("/sessions", {"name": "closed", "budget_tokens": 100}).json()
    api.post(f"/sessions/{body['id']}/close")

    response = api.patch(f"/sessions/{body['id']}", {"budget_tokens": 1000})

    assert response.status_code == 422
    assert "closed" in response.content.decode()
    assert MeteredSession.objects.get(pk=body["id"]).budget_tokens == 100


# What a dead process leaves behind ---------------------------------------------------


def test_the_sweep_releases_reservations_a_dead_process_left_and_nothing_else(caller):
    session, _ = session_create(owner=caller, name="swept", budget_tokens=1000)
    ask = Ask(prompt_tokens=100, max_tokens=100, price=None, free=True)
    abandoned = budgets.reserve(session_id=session.pk, ask=ask)
    live = budgets.reserve(session_id=session.pk, ask=ask)
    assert abandoned is not None and live is not None
    Reservation.objects.filter(pk=abandoned.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert budgets.reservations_release_expired() == {"released": 1}

    session.refresh_from_db()
    assert session.reserved_tokens == 200
    budgets.account(session_id=session.pk, holds=[abandoned, live], tokens=0, usd=Decimal(0))  # late settle: once
    session.refresh_from_db()
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)


def test_a_call_whose_row_cannot_be_written_leaves_no_spend_and_its_hold_is_swept(caller, vendor, vendor_provider, monkeypatch):
    from django.db import OperationalError

    from agents_llm.metering import calls

    make_agent("trader", vendor_provider, "vendor-trader")
    session, token = session_create(owner=caller, name="db gone", budget_tokens=10000)
    monkeypatch.setattr("django.conf.settings.DB_RETRY_SECONDS", 0.2)

    def database_gone(*args, **kwargs):
        raise OperationalError("the server closed the connection")

    monkeypatch.setattr(calls.LLMCall.objects, "create", database_gone)
    response = GatewayClient(token).chat({"model": "trader", "messages": user_message(), "max_tokens": 50})

    assert response.status_code == 503
    session.refresh_from_db()
    assert (session.spent_tokens, LLMCall.objects.filter(session=session).count()) == (0, 0)
    assert session.reserved_tokens > 0  # until the sweep: the process could not give it back
    Reservation.objects.filter(session=session).update(expires_at=timezone.now())
    budgets.reservations_release_expired()
    session.refresh_from_db()
    assert (session.reserved_tokens, session.spent_tokens) == (0, 0)


# In the admin ---------------------------------------------------------------------


def test_the_session_page_changes_a_budget_reopens_the_session_and_keeps_who_did_it(client, superuser):
    session, _ = session_create(owner=superuser, name="admin budget", budget_tokens=100)
    MeteredSession.objects.filter(pk=session.pk).update(status="over_budget", reserved_tokens=0)
    client.force_login(superuser)
    page = client.get(f"/admin/agents_llm/meteredsession/{session.pk}/change/")
    assert 'data-role="change-budget"' in page.content.decode()

    changed = client.post(f"/admin/agents_llm/meteredsession/{session.pk}/budget/",
                          {"budget_usd": "0.25", "budget_tokens": "5000"}, follow=True)

    assert "Changed the budget" in changed.content.decode()
    session.refresh_from_db()
    assert (session.budget_usd, session.budget_tokens, session.status) == (Decimal("0.25"), 5000, "open")
    assert session.history.first().history_user == superuser


def test_a_bad_budget_in_the_admin_names_the_field_and_changes_nothing(client, superuser):
    session, _ = session_create(owner=superuser, name="admin bad budget", budget_tokens=100)
    client.force_login(superuser)

    answer = client.post(f"/admin/agents_llm/meteredsession/{session.pk}/budget/", {"budget_tokens": "-5"}, follow=True)

    assert "budget_tokens" in answer.content.decode() and "not changed" in answer.content.decode()
    session.refresh_from_db()
    assert session.budget_tokens == 100


def test_another_users_session_budget_is_not_changed_by_a_reader(client, superuser, reader):
    session, _ = session_create(owner=superuser, name="not yours", budget_tokens=100)
    client.force_login(reader)

    answer = client.post(f"/admin/agents_llm/meteredsession/{session.pk}/budget/", {"budget_tokens": "9999"})

    assert answer.status_code == 403
    session.refresh_from_db()
    assert session.budget_tokens == 100
