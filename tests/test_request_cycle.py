"""Django's request cycle under ASGI with the stock middleware run in one thread per
request (tradingagents.request_cycle): what the middleware does still happens — the
security headers, the audit trail's author, a sync view and an async view (an inline
run on the server's event loop) — through the ASGI handler the server uses."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import AsyncClient

from agents_llm.models import AgentConfig, AgentRun, RunStatus
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

STOCK_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def test_the_one_thread_middleware_is_the_innermost():
    # Below an async-capable middleware it would leave every one above it hopping threads.
    assert settings.MIDDLEWARE[-1] == "tradingagents.request_cycle.OneThreadMiddleware"
    assert settings.MIDDLEWARE.count("tradingagents.request_cycle.OneThreadMiddleware") == 1


@pytest.fixture
def editor_token(editor) -> str:
    return api_token_create(user=editor, name="asgi")[1]


async def _post(token: str, path: str, body: dict):
    return await AsyncClient().post(
        path, data=json.dumps(body), content_type="application/json", headers={"Authorization": f"Bearer {token}"},
    )


async def test_a_sync_api_write_through_asgi_is_audited_and_answered_with_the_stock_headers(editor, editor_token):
    response = await _post(editor_token, "/api/v1/agents", {"name": "scout", "instructions": "Scout."})

    assert response.status_code == 201, response.content
    assert {name: response[name] for name in STOCK_HEADERS} == STOCK_HEADERS
    agent = await AgentConfig.objects.aget(name="scout")
    assert response.json()["id"] == agent.pk
    history = await AgentConfig.history.filter(name="scout").afirst()
    assert history is not None and history.history_user_id == editor.pk


async def test_an_async_api_view_through_asgi_runs_inline_and_answers_with_the_stock_headers(
    editor_token, assignment, offline_config,
):
    response = await _post(editor_token, "/api/v1/runs?wait=true",
                           {"agent": "trader", "task": "trade-signal", "input": {"ticker": "AAPL"}})

    assert response.status_code == 200, response.content
    assert {name: response[name] for name in STOCK_HEADERS} == STOCK_HEADERS
    run = await AgentRun.objects.aget(pk=response.json()["id"])
    assert run.status == RunStatus.SUCCEEDED and response.json()["status"] == "succeeded"
    assert response.json()["output"] == run.output


async def test_a_cookie_post_without_its_csrf_token_is_still_refused():
    response = await AsyncClient(enforce_csrf_checks=True).post("/admin/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
