"""Who may call the gateway, and the OpenAI error body every refusal comes in."""

from __future__ import annotations

import pytest

from agents_llm.models import LLMCall
from tests.gateway_support import GatewayClient, caller, gateway, make_agent, user_message, vendor, vendor_provider  # noqa: F401
from tradingagents.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.fixture
def trader(vendor_provider):
    return make_agent("trader", vendor_provider, "vendor-trader")


def test_a_call_without_a_token_is_401(trader, vendor):
    error = _error(GatewayClient(None).chat({"model": "trader", "messages": user_message()}), 401)
    assert error["type"] == "authentication_error"
    assert vendor.seen() == []


def test_an_unknown_token_is_401(trader):
    error = _error(GatewayClient("ta_not-a-real-token").chat({"model": "trader", "messages": user_message()}), 401)
    assert error["code"] == "invalid_api_key"


def test_a_revoked_token_is_401(trader, caller):
    row, token = api_token_create(user=caller)
    client = GatewayClient(token)
    assert client.chat({"model": "trader", "messages": user_message()}).status_code == 200

    api_token_revoke(token=row)

    _error(client.chat({"model": "trader", "messages": user_message()}), 401)
    assert LLMCall.objects.count() == 1


def test_a_user_without_the_gateway_permission_is_403(trader, editor, vendor):
    _, token = api_token_create(user=editor)
    editor.user_permissions.remove(*editor.user_permissions.filter(codename="use_gateway"))

    error = _error(GatewayClient(token).chat({"model": "trader", "messages": user_message()}), 403)

    assert error["code"] == "permission_denied"
    assert "agents_llm.use_gateway" in error["message"]
    assert vendor.seen() == []


def test_a_superuser_may_call_without_a_group(trader, superuser):
    _, token = api_token_create(user=superuser)
    assert GatewayClient(token).chat({"model": "trader", "messages": user_message()}).status_code == 200


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "JSON object"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model", "'model' is required"),
        ({"model": "trader"}, "messages", "'messages' is required"),
        ({"model": "trader", "messages": []}, "messages", "'messages' is required"),
        ({"model": "trader", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role", "role"),
        ({"model": "trader", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "n", "n=1"),
        ({"model": "trader", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature", "0 to 2"),
        ({"model": "trader", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens", "at least 1"),
        ({"model": "trader", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, "stream", "true or false"),
        ({"model": "trader", "messages": [{"role": "user", "content": "hi"}],
          "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]},
         "tools[0].function.parameters", "not a valid JSON Schema"),
        ({"model": "trader", "messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "tool_choice", "not one of 'tools'"),
        ({"model": "trader", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "xml"}},
         "response_format", "'json_schema'"),
    ],
)
def test_a_bad_request_is_400_naming_the_field_and_changes_nothing(gateway, trader, vendor, body, param, words):
    error = _error(gateway.chat(body), 400)

    assert error["param"] == param
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    assert vendor.seen() == []
    assert LLMCall.objects.count() == 0


def test_unknown_fields_are_ignored_not_errors(gateway, trader, vendor):
    response = gateway.chat({"model": "trader", "messages": user_message(), "logit_bias": {}, "x_custom": 1})

    assert response.status_code == 200


def test_an_unknown_path_under_v1_is_a_404_in_openais_shape(gateway):
    error = _error(gateway.client.post("/v1/embeddings", data="{}", content_type="application/json", headers=gateway.headers), 404)
    assert "/v1/chat/completions" in error["message"]


def test_get_on_chat_completions_is_405(gateway):
    _error(gateway.client.get("/v1/chat/completions", headers=gateway.headers), 405)


def test_a_lone_surrogate_is_a_400_naming_where_it_is(gateway, trader, vendor):
    raw = '{"model": "trader", "messages": [{"role": "user", "content": "bad \\udfff"}]}'

    error = _error(gateway.chat(raw), 400)

    assert error["param"] == "messages[0].content"
    assert vendor.seen() == []


def test_a_body_over_the_upload_limit_is_413_in_openais_shape(gateway, trader, vendor, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    error = _error(gateway.chat({"model": "trader", "messages": [{"role": "user", "content": "x" * 2000}]}), 413)

    assert error["code"] == "request_too_large"
    assert vendor.seen() == []
