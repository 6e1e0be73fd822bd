"""After providers and LLM configs are written with a canary key, no response of any
endpoint (lists, details, errors, the OpenAPI document) contains it."""

from __future__ import annotations

import re

import pytest

from agents_llm.models import AgentLLMConfig
from providers.models import LLMProvider
from tests.api_support import as_editor, assert_error_shape  # noqa: F401
from tests.conftest import CANARY_KEY, CANARY_LAST4

pytestmark = pytest.mark.django_db

CANARY_PARTS = (CANARY_KEY, CANARY_KEY[:-4], CANARY_KEY[3:-4])


def _assert_clean(response) -> None:
    text = response.content.decode()
    for part in CANARY_PARTS:
        assert part not in text, f"{response.status_code} {response.request['PATH_INFO']} leaks the canary"


def test_no_response_contains_the_canary_key(as_editor, agent, task, assignment, offline_provider):
    writes = [
        as_editor.post("/providers", {"name": "canary", "provider_type": "openai", "api_key": CANARY_KEY}),
        as_editor.post("/providers", {"name": "canary", "provider_type": "openai", "api_key": CANARY_KEY}),  # 409
        as_editor.post("/providers", {"name": "!!!", "provider_type": "openai", "api_key": CANARY_KEY}),  # 422: no slug
        as_editor.post("/providers", {"name": "x", "provider_type": "openai", "api_key": CANARY_KEY * 20}),  # too long
    ]
    provider = LLMProvider.objects.get(name="canary")
    writes += [
        as_editor.patch(f"/providers/{provider.pk}", {"api_key": CANARY_KEY, "enabled": True}),
        as_editor.put(f"/agents/{agent.pk}/llm-config", {"provider": "canary", "model_name": "gpt-4o-mini", "api_key": CANARY_KEY}),
        as_editor.post(f"/agents/{agent.pk}/llm-configs", {"provider": "canary", "model_name": "gpt-4o", "api_key": CANARY_KEY, "priority": 4}),
        as_editor.post(f"/agents/{agent.pk}/llm-configs", {"provider": "canary", "model_name": "nope-model", "api_key": CANARY_KEY}),
        as_editor.post("/llm-configs/bulk", {"agents": [agent.pk], "config": {"provider": "canary", "model_name": "gpt-4o-mini", "api_key": CANARY_KEY}}),
        as_editor.post("/llm-configs/bulk", {"agents": [agent.pk, "ghost"], "config": {"provider": "canary", "model_name": "gpt-4o-mini", "api_key": CANARY_KEY}}),
    ]
    config = AgentLLMConfig.objects.filter(agent=agent).order_by("priority").first()
    writes.append(as_editor.patch(f"/llm-configs/{config.pk}", {"api_key": CANARY_KEY, "temperature": 5}))
    writes.append(as_editor.patch(f"/llm-configs/{config.pk}", {"api_key": CANARY_KEY}))
    # A run whose model refuses to call out: the failure must not quote the key either.
    run = as_editor.call("POST", "/runs?wait=true", {"agent": "trader", "task": "trade-signal", "input": {"ticker": "X"}})
    writes.append(run)
    # A lineup on the canary provider: it shows the provider by name only.
    writes.append(as_editor.post("/lineups", {"name": "canary-mix", "roles": {"trader": {"provider": "canary", "model": "gpt-4o"}}}))
    assert [r.status_code for r in writes[:4]] == [201, 409, 422, 422]
    assert writes[-1].status_code == 201, writes[-1].content
    config.refresh_from_db()
    provider.refresh_from_db()
    assert config.api_key_last4 == CANARY_LAST4 and provider.api_key_last4 == CANARY_LAST4  # the key was stored
    for response in writes:
        _assert_clean(response)

    from django.contrib.auth.models import User

    from agents_llm.metering.calls import CallOutcome, call_record
    from agents_llm.metering.sessions import session_create

    session, _ = session_create(owner=User.objects.get(username="editor"), name="canary session")
    call = call_record(CallOutcome(agent_id=agent.pk, alias="trader", user_id=None, session_id=session.pk, provider_id=provider.pk))
    from datetime import date

    from agents_llm.models import Analysis, Experiment, ExperimentArm, Lineup

    # An experiment whose arm is the canary lineup, and its analysis, whose trader was
    # routed to the canary provider: they show it by name only.
    experiment = Experiment.objects.create(name="canary grid", tickers=["NVDA"], trade_dates=["2026-11-20"],
                                           gateway_url="http://testserver")
    arm = ExperimentArm.objects.create(experiment=experiment, name="canary", lineup=Lineup.objects.get(name="canary-mix"))
    analysis = Analysis.objects.create(
        ticker="NVDA", trade_date=date(2026, 11, 20), session=session, gateway_url="http://testserver",
        roles=[{"node": "trader", "agent": agent.name, "provider": "canary", "model": "gpt-4o"}],
        experiment=experiment, arm=arm, status="succeeded", rating="Buy",
    )
    ids = {
        "experiment_id": experiment.pk, "analysis_id": analysis.pk, "provider_id": provider.pk, "agent_id": agent.pk, "config_id": config.pk, "task_id": task.pk,
        "assignment_id": assignment.pk, "run_id": run.json()["id"], "call_id": call.pk,
        "session_id": session.pk, "name": "canary-mix",
    }
    spec = as_editor.get("/openapi.json")
    _assert_clean(spec)
    _assert_clean(as_editor.client.get("/api/docs"))
    paths = spec.json()["paths"]
    read = 0
    for path, operations in paths.items():
        if "get" not in operations:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
        response = as_editor.client.get(url, headers=as_editor.headers)
        assert response.status_code == 200, url
        _assert_clean(response)
        read += 1
        missing = as_editor.client.get(re.sub(r"\{(\w+)\}", "999999", path), headers=as_editor.headers)
        _assert_clean(missing)
    assert read >= 15
    unknown_filter = as_editor.get("/llm-configs", agent="ghost")
    assert_error_shape(unknown_filter, 422)
    _assert_clean(unknown_filter)
