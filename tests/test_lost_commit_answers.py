"""A write the gateway tries again after the database ended its connection may have
been applied already: its COMMIT reached the server and only the answer was lost. Each
such write (a reservation, its shrink, a call's row, a stream's completion) is stored
and counted once, so a session's spent stays the sum of its rows and nothing stays
reserved. Each test loses the answer of one committed write, once."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from agents_llm.agents.services import llm_config_create
from agents_llm.metering import budgets, calls
from agents_llm.metering.sessions import session_create
from agents_llm.models import LLMCall, MeteredSession, Reservation
from tests.gateway_support import GatewayClient, caller, make_agent, user_message, vendor, vendor_provider  # noqa: F401

# Streams are read on the event loop that opened them, as uvicorn does: async tests.
pytestmark = pytest.mark.django_db(transaction=True)


def _answer_lost_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[str]:
    """The first COMMIT inside `module.name` is applied, then raises as a connection
    the server ended before it answered would (Django's atomic block re-raises it)."""
    real_fn, real_commit = getattr(module, name), BaseDatabaseWrapper.commit
    inside = threading.local()
    lost: list[str] = []

    def commit(self: BaseDatabaseWrapper) -> None:
        real_commit(self)
        if getattr(inside, "on", False) and not lost:
            lost.append(name)
            raise OperationalError("server closed the connection unexpectedly")

    def watched(*args: Any, **kwargs: Any) -> Any:
        inside.on = True
        try:
            return real_fn(*args, **kwargs)
        finally:
            inside.on = False

    monkeypatch.setattr(BaseDatabaseWrapper, "commit", commit)
    monkeypatch.setattr(module, name, watched)
    return lost


@pytest.fixture
def budgeted(caller, vendor_provider) -> tuple[MeteredSession, GatewayClient]:  # noqa: F811
    prices = {"cost_per_1k_input_tokens": Decimal("0.01"), "cost_per_1k_output_tokens": Decimal("0.03")}
    agent = make_agent("trader", vendor_provider, "vendor-a", **prices)
    llm_config_create(agent=agent, provider=vendor_provider, model_name="vendor-b", priority=1, **prices)
    session, token = session_create(owner=caller, name="lost answers", budget_tokens=5000, budget_usd=Decimal("1"))
    return session, GatewayClient(token)


def _spent_is_the_rows_and_nothing_is_reserved(session: MeteredSession, rows: int) -> None:
    session.refresh_from_db()
    calls_ = list(LLMCall.objects.filter(session=session))
    assert len(calls_) == rows
    assert session.spent_tokens == sum(c.input_tokens + c.output_tokens for c in calls_) > 0
    assert session.spent_usd == sum(c.cost for c in calls_) > 0
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)
    assert not Reservation.objects.filter(session=session).exists()


@pytest.mark.parametrize("write", [(budgets, "reserve"), (budgets, "shrink"), (calls, "call_record")],
                         ids=["reservation", "shrink-after-a-failed-model", "call-row"])
async def test_a_call_whose_write_was_applied_but_its_answer_lost_is_stored_and_counted_once(
    budgeted, vendor, monkeypatch, write,  # noqa: F811
):
    session, gateway = budgeted
    vendor.script("vendor-a", {"status": 503} if write[1] == "shrink" else {"text": "Buy NVDA, size 2%."})
    vendor.script("vendor-b", {"text": "Buy NVDA, size 1%."})
    lost = _answer_lost_once(monkeypatch, *write)

    response, _ = await gateway.astream({"model": "trader", "messages": user_message(), "max_tokens": 50})

    assert lost == [write[1]]
    assert response.status_code == 200, response.content
    assert [seen.body["model"] for seen in vendor.seen()] == (
        ["vendor-a", "vendor-b"] if write[1] == "shrink" else ["vendor-a"]
    )
    await _sync(_spent_is_the_rows_and_nothing_is_reserved, session, 1)


async def test_a_stream_whose_completion_was_applied_but_its_answer_lost_is_counted_once(
    budgeted, vendor, monkeypatch,  # noqa: F811
):
    session, gateway = budgeted
    vendor.script("vendor-a", {"text": "Buy NVDA on the dip, size 2%."})
    lost = _answer_lost_once(monkeypatch, calls, "call_update")

    response, frames = await gateway.astream(
        {"model": "trader", "messages": user_message(), "max_tokens": 50, "stream": True},
    )

    assert lost == ["call_update"]
    assert response.status_code == 200 and frames[-1] == "[DONE]"
    call = await LLMCall.objects.aget(pk=int(response["x-call-id"]))
    assert call.status == "succeeded" and call.output_tokens > 0
    await _sync(_spent_is_the_rows_and_nothing_is_reserved, session, 1)


async def _sync(fn: Any, *args: Any) -> Any:
    from asgiref.sync import sync_to_async

    return await sync_to_async(fn)(*args)
