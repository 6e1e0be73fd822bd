"""POST schemas/validate is throttled per user (any active user may call it, and each
call costs CPU): over the limit, 429 with Retry-After; other users are unaffected."""

from __future__ import annotations

import pytest

from agents_llm.agents.api_schemas import validate_throttle
from tests.api_support import as_editor, as_reader, assert_error_shape  # noqa: F401
from tradingagents.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db

LIMIT = 5
SCHEMA = {"schema": {"type": "object", "properties": {"a": {"type": "string"}}}}


@pytest.fixture(autouse=True)
def real_limit(monkeypatch, reader, editor):
    monkeypatch.setattr(validate_throttle, "num_requests", LIMIT)
    keys = [validate_throttle.cache_format % {"scope": validate_throttle.scope, "ident": u.pk} for u in (reader, editor)]
    for key in keys:
        validate_throttle.cache.delete(key)
    yield
    for key in keys:
        validate_throttle.cache.delete(key)


def test_over_the_limit_a_user_gets_429_with_retry_after(as_reader):
    statuses = [as_reader.post("/schemas/validate", SCHEMA).status_code for _ in range(LIMIT)]
    over = as_reader.post("/schemas/validate", SCHEMA)

    assert statuses == [200] * LIMIT
    assert isinstance(validate_throttle, UserRateThrottle)  # counts on while Redis is down
    body = assert_error_shape(over, 429)
    assert "Too many" in body["detail"]
    assert 1 <= int(over["Retry-After"]) <= 60


def test_the_limit_is_per_user(as_reader, as_editor):
    for _ in range(LIMIT + 1):
        as_reader.post("/schemas/validate", SCHEMA)

    assert as_editor.post("/schemas/validate", SCHEMA).status_code == 200
