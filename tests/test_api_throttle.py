"""POST providers/{id}/validate is throttled per user: 10 a minute, then 429 + Retry-After."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from providers.api import validate_throttle
from tests.api_support import as_editor, as_superuser, assert_error_shape  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttle(editor, superuser):
    keys = [validate_throttle.cache_format % {"scope": validate_throttle.scope, "ident": u.pk} for u in (editor, superuser)]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


def test_the_eleventh_validate_call_within_a_minute_gets_429_with_retry_after(as_editor, openai_provider):
    statuses = [as_editor.post(f"/providers/{openai_provider.pk}/validate").status_code for _ in range(10)]
    eleventh = as_editor.post(f"/providers/{openai_provider.pk}/validate")

    assert statuses == [202] * 10
    body = assert_error_shape(eleventh, 429)
    assert "Too many" in body["detail"]
    assert 1 <= int(eleventh["Retry-After"]) <= 60


def test_the_limit_is_per_user(as_editor, as_superuser, openai_provider):
    for _ in range(11):
        as_editor.post(f"/providers/{openai_provider.pk}/validate")

    assert as_superuser.post(f"/providers/{openai_provider.pk}/validate").status_code == 202


def test_reads_are_not_throttled(as_editor, openai_provider):
    for _ in range(11):
        as_editor.post(f"/providers/{openai_provider.pk}/validate")

    assert as_editor.get(f"/providers/{openai_provider.pk}").status_code == 200
