"""`manage.py validateproviders`: queue what is due, or check inline."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from dramatiq.brokers.stub import StubBroker

from providers.models import LLMProvider, ValidationStatus
from providers.services import provider_create
from providers.tasks import validate_provider
from tests.conftest import CANARY_KEY
from tests.dramatiq_support import swapped_broker
from tests.fake_vendor import FakeVendor

pytestmark = pytest.mark.django_db


@pytest.fixture
def vendor():
    with FakeVendor() as vendor:
        yield vendor


@pytest.fixture
def broker():
    with swapped_broker(StubBroker()) as broker:
        broker.flush_all()
        yield broker


def test_inline_checks_each_named_provider_here_and_now(vendor):
    provider = provider_create(name="fake", provider_type="openai", base_url=vendor.url + "/v1", api_key=CANARY_KEY)
    out = io.StringIO()

    call_command("validateproviders", "fake", "--inline", stdout=out)

    assert "fake: valid" in out.getvalue()
    assert LLMProvider.objects.get(pk=provider.pk).validation_status == ValidationStatus.VALID
    assert len(vendor.requests) == 1


def test_inline_reports_the_reason_of_an_invalid_key(vendor):
    vendor.script = [401]
    provider_create(name="fake", provider_type="openai", base_url=vendor.url + "/v1", api_key=CANARY_KEY)
    out = io.StringIO()

    call_command("validateproviders", "--inline", stdout=out)

    assert "fake: invalid — 127.0.0.1" in out.getvalue()
    assert "refused the API key" in out.getvalue()
    assert CANARY_KEY not in out.getvalue()


def test_an_unknown_name_is_an_error_and_nothing_is_queued(broker):
    with pytest.raises(CommandError, match="No provider named: nope"):
        call_command("validateproviders", "nope")

    assert broker.queues.get(validate_provider.queue_name) is None or broker.queues[validate_provider.queue_name].empty()


def test_without_arguments_it_queues_the_pending_and_the_never_checked(broker, openai_provider, offline_provider):
    out = io.StringIO()

    call_command("validateproviders", stdout=out)

    # openai is pending, offline was never checked (validated_at is empty).
    assert "queued 2 provider check(s)" in out.getvalue()
    assert broker.queues[validate_provider.queue_name].qsize() == 2
