"""What a gateway call asks of the database once its caller and agent are cached: one
statement for a call outside a session (its row, in no transaction: no BEGIN/COMMIT
round trips); in a session, the row and the session's spend in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from agents_llm.metering.models import LLMCall, MeteredSession
from agents_llm.metering.sessions import session_create
from tests.gateway_support import GatewayClient, caller, gateway, make_agent, user_message  # noqa: F401

# Not inside a test transaction: whether a statement runs in one is what is checked.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def offline_agent(offline_provider):
    return make_agent("trader", offline_provider, "offline")


def statements(call: Callable[[], Any]) -> tuple[Any, list[tuple[str, bool]]]:
    """call()'s result, and each statement it ran: (its first word, inside a transaction?)."""
    seen: list[tuple[str, bool]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        seen.append((sql.split()[0], context["connection"].in_atomic_block))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        result = call()
    return result, seen


def test_a_cached_call_outside_a_session_is_one_insert_in_no_transaction(gateway, offline_agent):
    gateway.chat({"model": "trader", "messages": user_message()})  # fills the caches

    response, seen = statements(lambda: gateway.chat({"model": "trader", "messages": user_message()}))

    assert response.status_code == 200
    assert seen == [("INSERT", False)]
    call = LLMCall.objects.get(pk=int(response["x-call-id"]))
    assert (call.agent_id, call.session_id, call.status) == (offline_agent.pk, None, "succeeded")


def test_a_call_in_a_session_writes_its_row_and_the_sessions_spend_in_one_transaction(caller, offline_agent):
    session, token = session_create(owner=caller, name="NVDA")
    client = GatewayClient(token)
    client.chat({"model": "trader", "messages": user_message()})

    response, seen = statements(lambda: client.chat({"model": "trader", "messages": user_message()}))

    assert response.status_code == 200
    writes = [(word, atomic) for word, atomic in seen if word in ("INSERT", "UPDATE")]
    assert writes and all(atomic for _, atomic in writes)
    calls = LLMCall.objects.filter(session=session)
    assert calls.count() == 2
    spent = sum(call.input_tokens + call.output_tokens for call in calls)
    assert spent > 0 and MeteredSession.objects.get(pk=session.pk).spent_tokens == spent


def test_completing_a_streamed_call_outside_a_session_is_one_update_in_no_transaction(caller, offline_agent):
    from agents_llm.metering.calls import CallOutcome, call_record, call_update
    from agents_llm.metering.pricing import TokenUsage

    outcome = CallOutcome(agent_id=offline_agent.pk, alias="trader", user_id=caller.pk, streamed=True, status="succeeded")
    call = call_record(outcome)
    outcome.usage = TokenUsage(input_tokens=12, output_tokens=5)

    _, seen = statements(lambda: call_update(call.pk, outcome, [], recorded=(0, outcome.cost)))

    assert seen == [("UPDATE", False)]
    stored = LLMCall.objects.get(pk=call.pk)
    assert (stored.input_tokens, stored.output_tokens) == (12, 5)
