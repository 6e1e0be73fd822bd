"""Operators edit lineups in the admin: a table of roles (an agent per row, with its
model, sampling, fallback and prices, or a preset), listed with their role count;
every change is audited."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents_llm.agents.services import lineup_create
from agents_llm.models import Lineup, LineupRole, LLMPreset
from tests.gateway_support import make_agent

pytestmark = pytest.mark.django_db

ROW_FIELDS = ("agent", "preset", "provider", "model_name", "temperature", "max_tokens", "top_p",
              "fallback_provider", "fallback_model", "cost_per_1k_input_tokens", "cost_per_1k_output_tokens")


@pytest.fixture
def roster(offline_provider, openai_provider):
    trader = make_agent("trader", offline_provider, "offline")
    manager = make_agent("research_manager", offline_provider, "offline")
    deep = LLMPreset.objects.create(name="deep", provider=openai_provider, model_name="gpt-4o")
    return trader, manager, deep


def _form(rows: list[dict[str, str]], initial: int = 0, **lineup: str) -> dict[str, str]:
    form = {"name": "admin-mix", "description": "", **lineup, "roles-TOTAL_FORMS": str(len(rows)),
            "roles-INITIAL_FORMS": str(initial), "roles-MIN_NUM_FORMS": "0", "roles-MAX_NUM_FORMS": "1000"}
    for index, row in enumerate(rows):
        form.update({f"roles-{index}-{field}": "" for field in ROW_FIELDS})
        # What the browser sends for the fields left at their defaults.
        form.update({f"roles-{index}-temperature": "0.7", f"roles-{index}-cost_per_1k_input_tokens": "0",
                     f"roles-{index}-cost_per_1k_output_tokens": "0"})
        form.update({f"roles-{index}-{field}": value for field, value in row.items()})
    return form


def test_the_add_page_shows_the_table_of_roles_and_saves_a_lineup(client, superuser, roster, openai_provider):
    trader, manager, deep = roster
    client.force_login(superuser)

    page = client.get("/admin/agents_llm/lineup/add/")
    saved = client.post("/admin/agents_llm/lineup/add/", _form([
        {"agent": str(trader.pk), "provider": str(openai_provider.pk), "model_name": "gpt-4o-mini",
         "temperature": "0.2", "cost_per_1k_input_tokens": "0.15", "cost_per_1k_output_tokens": "0.6"},
        {"agent": str(manager.pk), "preset": str(deep.pk)},
    ]))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="roles-0-agent"' in html and 'name="roles-0-preset"' in html and 'name="roles-0-fallback_model"' in html
    assert saved.status_code == 302, [line for line in saved.content.decode().splitlines() if "errorlist" in line]
    lineup = Lineup.objects.get(name="admin-mix")
    rows = {row.agent.name: row for row in lineup.roles.all()}
    assert (rows["trader"].model_name, rows["trader"].temperature, rows["trader"].cost_per_1k_output_tokens) == (
        "gpt-4o-mini", 0.2, Decimal("0.6"))
    assert (rows["research_manager"].preset_id, rows["research_manager"].provider_id) == (deep.pk, None)
    assert Lineup.history.get().history_user == superuser
    assert {h.history_user for h in LineupRole.history.all()} == {superuser}


def test_a_row_with_both_a_preset_and_a_model_is_refused_and_nothing_is_saved(client, superuser, roster, openai_provider):
    trader, _, deep = roster
    client.force_login(superuser)

    refused = client.post("/admin/agents_llm/lineup/add/", _form([
        {"agent": str(trader.pk), "preset": str(deep.pk), "provider": str(openai_provider.pk), "model_name": "gpt-4o"},
    ]))

    assert refused.status_code == 200
    assert "Give either a preset or a provider and model" in refused.content.decode()
    assert Lineup.objects.count() == 0


def test_the_change_page_edits_a_role_and_the_list_counts_roles(client, superuser, roster, openai_provider):
    trader, manager, deep = roster
    lineup = lineup_create(name="admin-mix", roles={
        trader: {"provider": openai_provider, "model_name": "gpt-4o-mini"}, manager: {"preset": deep},
    })
    rows = {row.agent_id: row for row in lineup.roles.all()}
    client.force_login(superuser)

    page = client.get(f"/admin/agents_llm/lineup/{lineup.pk}/change/")
    saved = client.post(f"/admin/agents_llm/lineup/{lineup.pk}/change/", _form([
        {"id": str(rows[trader.pk].pk), "lineup": str(lineup.pk), "agent": str(trader.pk),
         "provider": str(openai_provider.pk), "model_name": "gpt-4o", "max_tokens": "800"},
        {"id": str(rows[manager.pk].pk), "lineup": str(lineup.pk), "agent": str(manager.pk), "preset": str(deep.pk)},
    ], initial=2, description="Bigger trader."))
    listing = client.get("/admin/agents_llm/lineup/")

    assert page.status_code == 200 and "gpt-4o-mini" in page.content.decode()
    assert saved.status_code == 302, [line for line in saved.content.decode().splitlines() if "errorlist" in line]
    trader_row = LineupRole.objects.get(pk=rows[trader.pk].pk)
    assert (trader_row.model_name, trader_row.max_tokens) == ("gpt-4o", 800)
    assert Lineup.objects.get().description == "Bigger trader."
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "admin-mix" in html and '<td class="field-role_count">2</td>' in html
