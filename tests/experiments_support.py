"""Experiments' test world without a worker: TradingAgents "installed" (any python: nothing
runs it), the seeded roster with two lineups (`tradingagents-default`, whose managers
think deep, and `all-quick`), and helpers that end a cell in the database as a worker
would, telling the experiment through analysis_finished."""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from agents_llm.analyses.live import analysis_publish
from agents_llm.models import Analysis, LLMPreset, MeteredSession
from tests.api_support import client_for

DAY = date(2026, 11, 20)
ARMS = [{"name": "default", "lineup": "tradingagents-default"}, {"name": "quick", "lineup": "all-quick"}]
EXPERIMENT_PERMS = ["add_experiment", "change_experiment", "view_experiment", "add_analysis", "change_analysis",
                    "view_analysis"]


@pytest.fixture
def installed(settings):
    settings.TRADINGAGENTS_PYTHON = sys.executable  # any executable python: nothing runs it here


@pytest.fixture
def lineups(db):
    """The seeded `tradingagents-default` (managers on the deep preset) and `all-quick`
    (every role on the quick preset), the presets on different vendor models."""
    from agents_llm.agents.services import lineup_create
    from agents_llm.models import AgentConfig

    call_command("seed", verbosity=0)
    LLMPreset.objects.filter(name="deep").update(model_name="offline-deep")
    quick = LLMPreset.objects.get(name="quick")
    lineup_create(name="all-quick", roles={agent: {"preset": quick} for agent in AgentConfig.objects.all()})


def may_experiment(user, codenames: list[str] = EXPERIMENT_PERMS) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.fixture
def api(caller, lineups, installed):
    may_experiment(caller)
    return client_for(caller)


def grid(**overrides: Any) -> dict[str, Any]:
    return {"name": "quick vs default", "tickers": ["NVDA", "AAPL"], "trade_dates": [DAY.isoformat()], "arms": ARMS,
            "market_data": "offline", "options": {"analysts": ["market"]}, **overrides}


def cells_of(experiment_id: int):
    return Analysis.objects.filter(experiment_id=experiment_id).select_related("session", "arm").order_by("pk")


def end_cell(analysis: Analysis, status: str = "succeeded", spent_usd: str = "0", tokens: int = 0,
             rating: str = "") -> None:
    """End a cell as its worker would (its session's spend, then the row), and tell its
    experiment as the worker does (analysis_finished, run on commit)."""
    MeteredSession.objects.filter(pk=analysis.session_id).update(spent_usd=Decimal(spent_usd), spent_tokens=tokens)
    now = timezone.now()
    Analysis.objects.filter(pk=analysis.pk).update(status=status, rating=rating, started_at=now, finished_at=now)
    analysis_publish(Analysis.objects.select_related("session").get(pk=analysis.pk))


def start_cell(analysis: Analysis) -> None:
    Analysis.objects.filter(pk=analysis.pk, status="queued").update(status="running", started_at=timezone.now(),
                                                                    attempts=1)


def active_counts(experiment_id: int) -> int:
    return cells_of(experiment_id).filter(status__in=["queued", "running"]).count()
