"""Saving works with the broker down; the provider stays pending, and the sweep
validates it once the broker is back. Nothing is lost."""

from __future__ import annotations

import logging
import time

import pytest
from django.core.management import CommandError, call_command
from dramatiq.brokers.redis import RedisBroker

from providers.models import LLMProvider, ValidationStatus
from providers.services import provider_create
from providers.tasks import validate_provider
from tests.conftest import CANARY_KEY
from tests.dramatiq_support import stub_worker, swapped_broker
from tests.fake_vendor import FakeVendor
from tests.loopback import refused_port
from tradingagents.worker import PeriodicSweep

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unreachable_broker():
    # A real Redis broker pointed at a loopback port that refuses connections.
    broker = RedisBroker(url=f"redis://127.0.0.1:{refused_port()}/0", socket_connect_timeout=0.5)
    with swapped_broker(broker):
        yield broker


@pytest.fixture
def vendor():
    with FakeVendor() as vendor:
        yield vendor


def create_while_broker_is_down(vendor: FakeVendor) -> LLMProvider:
    return provider_create(name="openai-main", provider_type="openai", base_url=vendor.url + "/v1", api_key=CANARY_KEY)


def test_saving_a_provider_with_the_broker_down_succeeds_and_leaves_it_pending(unreachable_broker, vendor, caplog):
    with caplog.at_level(logging.WARNING, logger="providers.services"):
        provider = create_while_broker_is_down(vendor)

    stored = LLMProvider.objects.get(pk=provider.pk)
    assert stored.validation_status == ValidationStatus.PENDING
    assert stored.api_key_last4 == CANARY_KEY[-4:]
    assert "stays pending" in caplog.text
    assert CANARY_KEY not in caplog.text
    assert vendor.requests == []


def test_the_sweep_reports_the_broker_down_and_leaves_the_provider_pending(unreachable_broker, vendor):
    provider = create_while_broker_is_down(vendor)

    with pytest.raises(CommandError, match="broker is unreachable"):
        call_command("validateproviders")

    assert LLMProvider.objects.get(pk=provider.pk).validation_status == ValidationStatus.PENDING


def test_the_sweep_validates_the_pending_provider_once_the_broker_is_back(unreachable_broker, vendor):
    provider = create_while_broker_is_down(vendor)

    with stub_worker() as broker:
        call_command("validateproviders")
        broker.join(validate_provider.queue_name)

    stored = LLMProvider.objects.get(pk=provider.pk)
    assert stored.validation_status == ValidationStatus.VALID
    assert stored.available_models
    assert len(vendor.requests) == 1


def test_the_periodic_sweep_picks_up_a_provider_left_pending(unreachable_broker, vendor, monkeypatch):
    provider = create_while_broker_is_down(vendor)
    # Left pending for longer than the periodic sweep waits for a queued message.
    LLMProvider.objects.filter(pk=provider.pk).update(updated_at=provider.updated_at.replace(year=2000))

    with stub_worker() as broker:
        sweep = PeriodicSweep(interval=0.05)
        broker.add_middleware(sweep)
        sweep.after_worker_boot(broker, None)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if LLMProvider.objects.get(pk=provider.pk).validation_status == ValidationStatus.VALID:
                    break
                time.sleep(0.05)
        finally:
            sweep.before_worker_shutdown(broker, None)
        broker.join(validate_provider.queue_name)

    assert LLMProvider.objects.get(pk=provider.pk).validation_status == ValidationStatus.VALID


def test_a_freshly_pending_provider_is_not_queued_twice_by_the_periodic_sweep(unreachable_broker, vendor):
    from providers.validation import providers_due

    provider = create_while_broker_is_down(vendor)

    assert provider.pk not in providers_due()
    assert provider.pk in providers_due(stale_pending_seconds=0)
