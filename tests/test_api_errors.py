"""Every error of the API has one shape: {"detail": str, "errors": [{"loc", "msg"}]}."""

from __future__ import annotations

import pytest

from agents_llm.models import AgentConfig
from tests.api_support import ApiClient, anonymous, as_editor, as_reader, assert_error_shape  # noqa: F401

pytestmark = pytest.mark.django_db


def test_an_unknown_path_under_the_api_is_a_json_404(as_reader):
    body = assert_error_shape(as_reader.get("/no-such-thing"), 404)
    assert "/api/v1/no-such-thing" in body["detail"]


def test_an_unknown_method_is_a_json_405_with_allow(as_reader):
    response = as_reader.call("PUT", "/agents", {})
    assert_error_shape(response, 405)
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}


def test_a_path_id_that_is_not_a_number_is_a_422_naming_it(as_reader):
    body = assert_error_shape(as_reader.get("/agents/abc"), 422)
    assert body["errors"][0]["loc"] == ["path", "agent_id"]


def test_a_missing_required_field_is_a_422_naming_it(as_editor):
    body = assert_error_shape(as_editor.post("/agents", {}), 422)
    assert body["errors"][0]["loc"] == ["body", "name"]


def test_a_bad_query_parameter_is_a_422_naming_it(as_reader):
    body = assert_error_shape(as_reader.get("/agents", limit=100000), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]


def test_a_body_that_is_not_json_is_a_400(as_editor):
    response = as_editor.client.post("/api/v1/agents", data="{not json", content_type="application/json", headers=as_editor.headers)
    assert_error_shape(response, 400)


def test_a_nul_character_is_a_422_naming_the_field_and_stores_nothing(as_editor):
    body = assert_error_shape(as_editor.post("/agents", {"name": "ok", "description": "a\x00b"}), 422)
    assert body["errors"][0]["loc"] == ["body", "description"]
    assert not AgentConfig.objects.exists()


def test_a_nul_character_in_a_query_is_a_422(as_reader):
    body = assert_error_shape(as_reader.get("/agents", q="a\x00"), 422)
    assert body["errors"][0]["loc"] == ["query", "q"]


def test_a_non_finite_number_is_a_422(as_editor):
    response = as_editor.client.post(
        "/api/v1/agents", data='{"name": "x", "metadata_json": {"n": 1e999}}',
        content_type="application/json", headers=as_editor.headers,
    )
    assert_error_shape(response, 422)
    assert not AgentConfig.objects.exists()


def test_a_deeply_nested_body_is_a_422_not_a_500(as_editor):
    deep = "[" * 5000 + "]" * 5000
    response = as_editor.client.post(
        "/api/v1/agents", data='{"name": "x", "metadata_json": {"n": ' + deep + "}}",
        content_type="application/json", headers=as_editor.headers,
    )
    assert response.status_code in (400, 422)
    assert_error_shape(response, response.status_code)
    assert not AgentConfig.objects.exists()


def test_a_forbidden_write_says_which_permission_is_missing(as_reader):
    body = assert_error_shape(as_reader.post("/agents", {"name": "nope"}), 403)
    assert "agents_llm.add_agentconfig" in body["detail"]


def test_an_id_beyond_any_table_is_a_404_or_422_not_a_500(as_reader):
    response = as_reader.get(f"/agents/{2**70}")
    assert_error_shape(response, 422)
    assert_error_shape(as_reader.get(f"/agents/{2**62}"), 404)


def test_the_docs_page_is_served_at_api_docs(client):
    response = client.get("/api/docs")
    assert response.status_code == 200 and b"openapi.json" in response.content
