"""POST /api/v1/schemas/validate: every error with its path, and never a 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents_llm.models import TaskConfig
from agents_llm.seed_data import TASKS
from tests.api_support import ApiClient, client_for

URL = "/api/v1/schemas/validate"
PATH = "/schemas/validate"  # as ApiClient wants it

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader_client(reader) -> ApiClient:
    return client_for(reader)


def post_raw(api: ApiClient, body: bytes | str, content_type: str = "application/json"):
    return api.client.post(URL, data=body, content_type=content_type, headers=api.headers)


def test_a_valid_schema_is_valid(reader_client):
    response = reader_client.post(PATH, {"schema": TASKS[0]["response_schema"]})

    assert response.status_code == 200
    assert response.json() == {"valid": True}


def test_an_invalid_schema_gets_every_error_with_its_path(reader_client):
    schema = {
        "type": "object",
        "properties": {
            "confidence": {"type": "number", "minimum": 0, "maximum": -1},
            "side": {"enum": ["buy", 1]},
        },
        "required": ["confidence", "missing"],
    }

    response = reader_client.post(PATH, {"schema": schema})

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert [e["path"] for e in body["errors"]] == ["/properties/confidence/maximum", "/properties/side/enum", "/required/1"]
    assert all(e["msg"] for e in body["errors"])


def test_checking_a_schema_changes_nothing(reader_client, task):
    before = list(TaskConfig.objects.values_list("response_schema", "schema_version"))

    reader_client.post(PATH, {"schema": {"type": "object", "properties": {"a": {"type": "string"}}}})

    assert list(TaskConfig.objects.values_list("response_schema", "schema_version")) == before


def test_it_needs_authentication():
    response = Client().post(URL, data=json.dumps({"schema": {"type": "object"}}), content_type="application/json")

    assert response.status_code == 401
    assert "valid" not in response.json()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param(b"{not json", ["body"], id="malformed"),
        pytest.param(b"", ["body"], id="empty"),
        pytest.param(b"\xff\xfe\x00", ["body"], id="not-utf8"),
        pytest.param(b"[1, 2]", ["body"], id="array"),
        pytest.param(b'{"schema": NaN}', ["body"], id="nan"),
        pytest.param(b'{"other": {}}', ["body"], id="no-schema-key"),
        pytest.param(b'{"schema": "object"}', ["body", "schema"], id="schema-not-an-object"),
        pytest.param(b"[" * 200_000 + b"]" * 200_000, ["body"], id="deep-array"),
        pytest.param(b'{"schema": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001, ["body"], id="deep-object"),
    ],
)
def test_a_body_that_is_not_a_schema_request_gets_a_clear_422(reader_client, body, loc):
    response = post_raw(reader_client, body)

    assert response.status_code == 422
    payload = response.json()
    assert payload["detail"]
    assert payload["errors"][0]["loc"] == loc


def test_a_body_over_the_size_limit_gets_413(reader_client):
    response = post_raw(reader_client, b'{"schema": "' + b"x" * 3_000_000 + b'"}')

    assert response.status_code == 413
    assert response.json()["errors"][0]["loc"] == ["body"]


def test_a_schema_nested_too_deeply_to_check_is_reported_not_crashed(reader_client):
    schema: dict = {"type": "object"}
    node = schema
    for _ in range(150):
        node["properties"] = {"a": {"type": "object"}}
        node = node["properties"]["a"]

    response = post_raw(reader_client, json.dumps({"schema": schema}))

    assert response.status_code == 200
    assert response.json()["errors"][0]["path"] == ""
    assert "nested too deeply" in response.json()["errors"][0]["msg"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "properties", "required", "enum", "items", "minimum", "maximum", "pattern",
                         "$ref", "$defs", "anyOf", "format", "minLength", "additionalProperties", "x"]) | st.text(max_size=4),
        children, max_size=4,
    ),
    max_leaves=20,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schema=JSON)
def test_random_schemas_never_crash_the_endpoint(reader_client, schema):
    response = reader_client.post(PATH, {"schema": schema})

    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert response.json()["valid"] in (True, False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_random_bytes_never_crash_the_endpoint(reader_client, body):
    response = post_raw(reader_client, body)

    assert response.status_code in (200, 422)


def test_a_pattern_holding_a_lone_surrogate_is_a_422_naming_it(reader_client):
    body = '{"schema": {"type": "object", "properties": {"s": {"type": "string", "pattern": "\\ud800"}}}}'

    response = post_raw(reader_client, body)

    assert response.status_code == 422, response.content
    assert response.json()["errors"][0]["loc"][:2] == ["body", "schema"]
