"""A vendor that cannot be reached is told apart from one that refused the key: the
first ends `unreachable`, the second `invalid` (both used to end `invalid`)."""

from __future__ import annotations

import socket

import pytest

from providers import validation
from providers.models import LLMProvider, ValidationStatus
from providers.services import provider_create
from tests.conftest import CANARY_KEY
from tests.fake_vendor import FakeVendor

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _provider(base_url: str) -> LLMProvider:
    return provider_create(name="vendor", provider_type="openai", base_url=base_url, api_key=CANARY_KEY)


def test_a_vendor_nobody_answers_for_ends_unreachable_not_invalid():
    provider = _provider(f"http://127.0.0.1:{_closed_port()}/v1")

    outcome = validation.provider_validate(provider_id=provider.pk, attempt=1, max_attempts=1)

    provider.refresh_from_db()
    assert outcome is validation.Outcome.UNREACHABLE
    assert provider.validation_status == ValidationStatus.UNREACHABLE
    assert provider.get_validation_status_display() == "Unreachable"
    assert "Could not connect to 127.0.0.1" in provider.validation_error
    assert "Gave up after 1 attempt." in provider.validation_error


def test_a_vendor_that_keeps_failing_with_5xx_ends_unreachable():
    with FakeVendor() as vendor:
        vendor.script = [503]
        provider = _provider(vendor.url + "/v1")
        outcome = validation.provider_validate(provider_id=provider.pk, attempt=2, max_attempts=2)

    provider.refresh_from_db()
    assert outcome is validation.Outcome.UNREACHABLE and provider.validation_status == ValidationStatus.UNREACHABLE


def test_a_refused_key_still_ends_invalid():
    with FakeVendor() as vendor:
        vendor.script = [401]
        provider = _provider(vendor.url + "/v1")
        outcome = validation.provider_validate(provider_id=provider.pk, attempt=1, max_attempts=4)

    provider.refresh_from_db()
    assert outcome is validation.Outcome.INVALID and provider.validation_status == ValidationStatus.INVALID
    assert "refused the API key" in provider.validation_error


def test_the_admin_and_the_api_show_unreachable(client, superuser):
    from tests.api_support import client_for

    provider = _provider(f"http://127.0.0.1:{_closed_port()}/v1")
    validation.provider_validate(provider_id=provider.pk, attempt=1, max_attempts=1)
    client.force_login(superuser)

    page = client.get("/admin/providers/llmprovider/").content.decode()
    listed = client_for(superuser).get("/providers", validation_status="unreachable")

    assert 'data-status="unreachable"' in page and ">Unreachable</span>" in page
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["items"]] == ["vendor"]
