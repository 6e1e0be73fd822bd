"""Throttles count on in process memory while Redis is down: no 500, and still a limit."""

from __future__ import annotations

import pytest

from agents_llm.agents.api_schemas import validate_throttle
from tests.api_support import assert_error_shape, client_for

pytestmark = pytest.mark.django_db(transaction=True)

SCHEMA = {"schema": {"type": "object", "properties": {"a": {"type": "string"}}}}


def test_schema_validation_is_still_throttled_while_redis_is_down(cache_on_redis, reader, monkeypatch):
    monkeypatch.setattr(validate_throttle, "num_requests", 3)
    validate_throttle.cache.local.clear()
    client = client_for(reader)
    assert client.post("/schemas/validate", SCHEMA).status_code == 200

    cache_on_redis.stop()
    statuses = [client.post("/schemas/validate", SCHEMA).status_code for _ in range(3)]
    over = client.post("/schemas/validate", SCHEMA)

    assert statuses == [200, 200, 200]
    assert_error_shape(over, 429)
    validate_throttle.cache.local.clear()


def test_provider_validation_answers_while_redis_is_down(cache_on_redis, superuser, openai_provider):
    client = client_for(superuser)
    cache_on_redis.stop()

    response = client.post(f"/providers/{openai_provider.pk}/validate")

    assert response.status_code in (202, 429), response.content
