"""GET /api/v1/usage counts gateway calls together with runs, also by session."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents_llm.models import LLMCall
from tests.api_support import client_for
from tests.gateway_support import GatewayClient, caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401

pytestmark = pytest.mark.django_db


def test_usage_adds_gateway_calls_to_runs_and_groups_them_by_session(caller, gateway, vendor, vendor_provider):
    from agents_llm.metering.sessions import session_create

    make_agent("trader", vendor_provider, "vendor-a", cost_per_1k_input_tokens=Decimal("1"), cost_per_1k_output_tokens=Decimal("1"))
    session, token = session_create(owner=caller, name="NVDA")
    gateway.chat({"model": "trader", "messages": user_message()})
    GatewayClient(token).chat({"model": "trader", "messages": user_message()})
    from django.contrib.auth.models import Permission

    # Usage covers everyone's runs and calls: it needs the permission to view both.
    caller.user_permissions.add(*Permission.objects.filter(codename__in=["view_agentrun", "view_llmcall"]))
    api = client_for(caller)

    by_agent = api.get("/usage", group_by="agent").json()
    by_session = api.get("/usage", group_by="session").json()

    [row] = by_agent["rows"]
    calls = LLMCall.objects.all()
    assert (row["key"], row["calls"], row["runs"]) == ("trader", 2, 0)
    assert row["input_tokens"] == sum(c.input_tokens for c in calls)
    assert Decimal(row["cost"]) == sum(c.cost for c in calls)
    sessions = {r["key"]: r for r in by_session["rows"]}
    assert sessions[str(session.pk)]["calls"] == 1 and sessions[str(session.pk)]["label"] == "NVDA"
    assert sessions[None]["calls"] == 1
    assert by_agent["total"]["calls"] == 2
