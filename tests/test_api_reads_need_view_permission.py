"""An active user needs a model's view permission to read it through the API, as the
admin does (issue 27, item 5); everyone sees their own sessions and the calls in them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from agents_llm.models import LLMCall
from tests.api_support import assert_error_shape, client_for
from tests.gateway_support import GatewayClient, caller, make_agent, user_message  # noqa: F401
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db

READS = ["/agents", "/llm-configs", "/tasks", "/assignments", "/runs", "/usage", "/providers", "/presets", "/lineups"]


@pytest.fixture
def nobody(db) -> User:
    """Active, not staff, no permission at all."""
    return User.objects.create_user("nobody", "nobody@example.com", "nobody-pass-123")


@pytest.mark.parametrize("path", READS)
def test_a_user_without_the_view_permission_is_refused_every_read(nobody, agent, path):
    body = assert_error_shape(client_for(nobody).get(path), 403)

    assert "view_" in body["detail"]


@pytest.mark.parametrize("path", READS)
def test_the_view_permission_lets_a_user_read(reader, agent, path):
    assert client_for(reader).get(path).status_code == 200


def test_without_the_view_permission_a_user_sees_only_the_calls_in_their_own_sessions(caller, offline_provider, editor):
    from agents_llm.metering.sessions import session_create

    make_agent("trader", offline_provider, "offline")
    _, own_session_token = session_create(owner=caller, name="mine")
    own = GatewayClient(own_session_token).chat({"model": "trader", "messages": user_message()})
    loose = GatewayClient(api_token_create(user=caller, name="loose")[1]).chat({"model": "trader", "messages": user_message()})
    _, theirs_token = session_create(owner=editor, name="theirs")
    theirs = GatewayClient(theirs_token).chat({"model": "trader", "messages": user_message()})
    assert {own.status_code, loose.status_code, theirs.status_code} == {200}

    api = client_for(caller)
    listed = api.get("/calls").json()["items"]

    assert [c["id"] for c in listed] == [int(own["x-call-id"])]
    assert api.get(f"/calls/{own['x-call-id']}").status_code == 200
    assert_error_shape(api.get(f"/calls/{theirs['x-call-id']}"), 404)
    assert_error_shape(api.get(f"/calls/{loose['x-call-id']}"), 404)
    assert LLMCall.objects.count() == 3
    caller.user_permissions.add(Permission.objects.get(codename="view_llmcall"))
    assert len(client_for(caller).get("/calls").json()["items"]) == 3
