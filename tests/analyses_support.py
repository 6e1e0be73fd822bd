"""Analyses' test world: the seeded roster on a loopback vendor, lineups over it, and
a server (uvicorn, embedded worker) that runs analyses with TradingAgents' python."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from django.contrib.auth.models import Permission
from django.core.management import call_command

from agents_llm.models import AgentConfig

IN_PRICE, OUT_PRICE = Decimal("0.001"), Decimal("0.002")  # USD per 1k tokens


def seed_on(provider) -> dict[str, AgentConfig]:
    """The seeded roster, every agent's primary config `vendor-<agent>` on `provider`."""
    from agents_llm.agents.services import llm_config_upsert_primary

    call_command("seed", verbosity=0)
    agents = {a.name: a for a in AgentConfig.objects.all()}
    for agent in agents.values():
        llm_config_upsert_primary(agent=agent, data={
            "provider": provider, "model_name": f"vendor-{agent.name}",
            "cost_per_1k_input_tokens": IN_PRICE, "cost_per_1k_output_tokens": OUT_PRICE,
        })
    return agents


def may_analyse(user) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_analysis", "change_analysis",
                                                                       "view_analysis"]))


def configs_of_agents() -> list[tuple[Any, ...]]:
    """Every agent's LLM configs, to check that nothing changed them."""
    from agents_llm.models import AgentLLMConfig

    return sorted(AgentLLMConfig.objects.values_list("agent__name", "priority", "provider_id", "model_name",
                                                     "enabled", "updated_at"))


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def finished(server: str, token: str, analysis_id: int, timeout: float = 240) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = httpx.get(f"{server}/api/v1/analyses/{analysis_id}", headers={"Authorization": f"Bearer {token}"},
                         timeout=30).json()
        return body if body["status"] in ("succeeded", "failed", "stopped") else None

    return wait_for(check, timeout, f"analysis {analysis_id} finished")


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone but for its parent's wait (the server reaps it).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True
