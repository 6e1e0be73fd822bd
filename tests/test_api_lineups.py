"""`/api/v1/lineups`: a named mix of models, one per role (its own model or a preset),
created, read and changed through the API; anything unknown is a 422 naming it and
changes nothing; sessions are opened with a lineup by name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents_llm.models import AgentLLMConfig, Lineup, LineupRole, LLMPreset, MeteredSession
from tests.api_support import client_for
from tests.gateway_support import caller, make_agent  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(offline_provider, openai_provider):
    """Two agents on the offline provider, and a `deep` preset on OpenAI."""
    make_agent("trader", offline_provider, "offline")
    make_agent("research_manager", offline_provider, "offline")
    return LLMPreset.objects.create(name="deep", provider=openai_provider, model_name="gpt-4o", temperature=0.2)


def _mix() -> dict:
    return {
        "name": "cheap-mix",
        "description": "Small models, a deep manager.",
        "roles": {
            "trader": {"provider": "openai-main", "model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": 500,
                       "fallback_provider": "offline", "fallback_model": "offline",
                       "cost_per_1k_input_tokens": "0.5", "cost_per_1k_output_tokens": "1.5"},
            "research_manager": {"preset": "deep"},
        },
    }


def test_creating_a_lineup_stores_its_roles_and_answers_them_as_given(editor, world):
    response = client_for(editor).post("/lineups", _mix())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "cheap-mix" and body["description"] == "Small models, a deep manager."
    assert body["roles"] == {
        "research_manager": {"preset": "deep"},
        "trader": {"provider": "openai-main", "model": "gpt-4o-mini", "temperature": 0.1, "max_tokens": 500,
                   "fallback_provider": "offline", "fallback_model": "offline",
                   "cost_per_1k_input_tokens": "0.500000", "cost_per_1k_output_tokens": "1.500000"},
    }
    trader = LineupRole.objects.get(lineup__name="cheap-mix", agent__name="trader")
    assert (trader.provider.name, trader.model_name, trader.temperature, trader.max_tokens) == (
        "openai-main", "gpt-4o-mini", 0.1, 500)
    assert (trader.fallback_provider.name, trader.cost_per_1k_output_tokens) == ("offline", Decimal("1.5"))
    manager = LineupRole.objects.get(lineup__name="cheap-mix", agent__name="research_manager")
    assert (manager.preset.name, manager.provider_id, manager.model_name) == ("deep", None, "")


def test_creating_a_lineup_is_audited_with_its_author(editor, world):
    client_for(editor).post("/lineups", _mix())

    assert Lineup.history.get(name="cheap-mix").history_user == editor
    assert {h.history_user for h in LineupRole.history.all()} == {editor}
    assert LineupRole.history.count() == 2


def test_a_lineup_is_read_by_name_and_listed(reader, editor, world):
    client_for(editor).post("/lineups", _mix())

    one = client_for(reader).get("/lineups/cheap-mix")
    listed = client_for(reader).get("/lineups")

    assert one.status_code == 200
    assert one.json()["roles"]["research_manager"] == {"preset": "deep"}
    assert listed.status_code == 200
    assert [item["name"] for item in listed.json()["items"]] == ["cheap-mix"]
    assert client_for(reader).get("/lineups/nothing-here").status_code == 404


def test_reading_lineups_needs_the_view_permission(caller, editor, world):
    client_for(editor).post("/lineups", _mix())

    response = client_for(caller).get("/lineups/cheap-mix")

    assert response.status_code == 403
    assert "agents_llm.view_lineup" in response.json()["detail"]


def test_writing_lineups_needs_the_add_and_change_permissions(reader, editor, world):
    created = client_for(reader).post("/lineups", _mix())
    client_for(editor).post("/lineups", _mix())
    changed = client_for(reader).patch("/lineups/cheap-mix", {"description": "mine now"})

    assert created.status_code == 403 and "agents_llm.add_lineup" in created.json()["detail"]
    assert changed.status_code == 403 and "agents_llm.change_lineup" in changed.json()["detail"]
    assert Lineup.objects.get().description == "Small models, a deep manager."


@pytest.mark.parametrize(("where", "value", "loc", "named"), [
    ("agent", "nobody", ["body", "roles", "nobody"], "No agent named 'nobody'."),
    ("provider", "no-such-vendor", ["body", "roles", "trader", "provider"], "No provider named 'no-such-vendor'."),
    ("fallback_provider", "gone", ["body", "roles", "trader", "fallback_provider"], "No provider named 'gone'."),
    ("preset", "huge", ["body", "roles", "research_manager", "preset"], "No preset named 'huge'."),
])
def test_an_unknown_agent_provider_or_preset_is_a_422_naming_it_and_nothing_is_stored(editor, world, where, value, loc, named):
    body = _mix()
    if where == "agent":
        body["roles"][value] = {"preset": "deep"}
    elif where == "preset":
        body["roles"]["research_manager"] = {"preset": value}
    else:
        body["roles"]["trader"][where] = value

    response = client_for(editor).post("/lineups", body)

    assert response.status_code == 422, response.content
    assert {"loc": loc, "msg": named} in response.json()["errors"]
    assert Lineup.objects.count() == 0 and LineupRole.objects.count() == 0


def test_a_role_with_both_a_preset_and_a_model_or_neither_is_a_422_on_its_field(editor, world):
    body = _mix()
    body["roles"]["research_manager"] = {"preset": "deep", "provider": "offline", "model": "offline"}
    body["roles"]["trader"] = {"temperature": 0.3}

    response = client_for(editor).post("/lineups", body)

    assert response.status_code == 422
    locs = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert locs == {("body", "roles", "research_manager", "preset"), ("body", "roles", "trader", "provider")}
    assert Lineup.objects.count() == 0


def test_a_model_the_provider_does_not_know_is_a_422_on_model(editor, world):
    body = _mix()
    body["roles"]["trader"] = {"provider": "openai-main", "model": "gpt-4o-minnie"}

    response = client_for(editor).post("/lineups", body)

    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["loc"] == ["body", "roles", "trader", "model"]
    assert "Unknown model 'gpt-4o-minnie'" in error["msg"]
    assert Lineup.objects.count() == 0


def test_a_second_lineup_with_the_same_name_is_a_409(editor, world):
    client_for(editor).post("/lineups", _mix())

    response = client_for(editor).post("/lineups", {"name": "cheap-mix", "roles": {}})

    assert response.status_code == 409
    assert Lineup.objects.count() == 1


def test_patching_replaces_the_roles_named_removes_the_nulls_and_keeps_the_rest(editor, world, offline_provider):
    make_agent("bull_researcher", offline_provider, "offline")
    body = _mix()
    body["roles"]["bull_researcher"] = {"provider": "offline", "model": "offline"}
    client_for(editor).post("/lineups", body)

    response = client_for(editor).patch("/lineups/cheap-mix", {
        "description": "Changed.",
        "roles": {"trader": {"provider": "openai-main", "model": "gpt-4o"}, "bull_researcher": None},
    })

    assert response.status_code == 200, response.content
    roles = response.json()["roles"]
    assert roles == {
        "research_manager": {"preset": "deep"},
        "trader": {"provider": "openai-main", "model": "gpt-4o", "temperature": 0.7,
                   "cost_per_1k_input_tokens": "0.000000", "cost_per_1k_output_tokens": "0.000000"},
    }
    trader = LineupRole.objects.get(agent__name="trader")
    # Replaced whole: the earlier sampling, fallback and prices are gone.
    assert (trader.model_name, trader.max_tokens, trader.fallback_provider_id, trader.cost_per_1k_input_tokens) == (
        "gpt-4o", None, None, Decimal(0))
    assert not LineupRole.objects.filter(agent__name="bull_researcher").exists()
    assert Lineup.objects.get().description == "Changed."


def test_a_patch_with_an_unknown_name_changes_nothing(editor, world):
    client_for(editor).post("/lineups", _mix())

    response = client_for(editor).patch("/lineups/cheap-mix", {
        "description": "Changed.",
        "roles": {"trader": {"provider": "openai-main", "model": "gpt-4o"}, "research_manager": {"preset": "nope"}},
    })

    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["body", "roles", "research_manager", "preset"],
                                          "msg": "No preset named 'nope'."}]
    assert Lineup.objects.get().description == "Small models, a deep manager."
    assert LineupRole.objects.get(agent__name="trader").model_name == "gpt-4o-mini"


def test_a_patch_whose_role_is_invalid_changes_nothing_not_even_the_description(editor, world):
    client_for(editor).post("/lineups", _mix())

    response = client_for(editor).patch("/lineups/cheap-mix", {
        "description": "Changed.", "roles": {"trader": {"provider": "offline", "fallback_model": "offline"}},
    })

    assert response.status_code == 422
    locs = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert ("body", "roles", "trader", "model") in locs
    assert Lineup.objects.get().description == "Small models, a deep manager."
    assert LineupRole.objects.get(agent__name="trader").model_name == "gpt-4o-mini"


def test_a_lineup_changes_no_agents_config(editor, world):
    before = list(AgentLLMConfig.objects.values_list("agent__name", "provider__name", "model_name").order_by("pk"))

    client_for(editor).post("/lineups", _mix())

    assert list(AgentLLMConfig.objects.values_list("agent__name", "provider__name", "model_name").order_by("pk")) == before


# Sessions ------------------------------------------------------------------------------


def test_a_session_opened_with_a_lineup_shows_its_name(caller, editor, world):
    client_for(editor).post("/lineups", _mix())
    api = client_for(caller)

    created = api.post("/sessions", {"name": "NVDA 2026-12-04", "lineup": "cheap-mix"})

    assert created.status_code == 201, created.content
    assert created.json()["lineup"] == "cheap-mix"
    session = MeteredSession.objects.get(pk=created.json()["id"])
    assert session.lineup.name == "cheap-mix"
    read = api.get(f"/sessions/{session.pk}")
    assert read.status_code == 200 and read.json()["lineup"] == "cheap-mix"
    assert api.get("/sessions").json()["items"][0]["lineup"] == "cheap-mix"


def test_a_session_without_a_lineup_shows_none(caller):
    created = client_for(caller).post("/sessions", {"name": "plain"})

    assert created.status_code == 201
    assert created.json()["lineup"] is None
    assert MeteredSession.objects.get().lineup_id is None


def test_a_session_with_an_unknown_lineup_is_a_422_and_opens_nothing(caller):
    response = client_for(caller).post("/sessions", {"name": "NVDA", "lineup": "no-such-mix"})

    assert response.status_code == 422
    assert response.json()["errors"] == [{"loc": ["body", "lineup"], "msg": "No lineup named 'no-such-mix'."}]
    assert MeteredSession.objects.count() == 0


def test_a_lineup_a_session_was_opened_with_cannot_be_deleted(caller, editor, world):
    from django.db.models import ProtectedError

    client_for(editor).post("/lineups", _mix())
    client_for(caller).post("/sessions", {"name": "NVDA", "lineup": "cheap-mix"})

    with pytest.raises(ProtectedError):
        Lineup.objects.get().delete()
    assert MeteredSession.objects.get().lineup.name == "cheap-mix"


def test_a_role_field_the_api_does_not_know_is_a_422_naming_it(editor, world):
    body = _mix()
    body["roles"]["trader"] = {"provider": "openai-main", "model_name": "gpt-4o"}

    response = client_for(editor).post("/lineups", body)

    assert response.status_code == 422
    assert ["body", "roles", "trader", "model_name"] in [error["loc"] for error in response.json()["errors"]]
    assert Lineup.objects.count() == 0
