"""The admin's "Validate now" (action and button) and the live badge wiring."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from dramatiq.brokers.stub import StubBroker

from providers.models import LLMProvider, ValidationStatus
from providers.tasks import validate_provider
from tests.dramatiq_support import swapped_broker

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    with swapped_broker(StubBroker()) as broker:
        broker.flush_all()
        yield broker


def queued_ids(broker) -> list[int]:
    queue = broker.queues[validate_provider.queue_name]
    return [json.loads(raw)["args"][0] for raw in list(queue.queue)]


def mark_valid(provider: LLMProvider) -> None:
    LLMProvider.objects.filter(pk=provider.pk).update(validation_status=ValidationStatus.VALID)


def test_the_validate_now_action_queues_a_check_of_each_selected_provider(
    client, editor, openai_provider, broker, django_capture_on_commit_callbacks
):
    mark_valid(openai_provider)
    client.force_login(editor)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:providers_llmprovider_changelist"),
            {"action": "validate_now", "_selected_action": [openai_provider.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "Queued a check of 1 provider(s)" in response.content.decode()
    assert LLMProvider.objects.get(pk=openai_provider.pk).validation_status == ValidationStatus.PENDING
    assert queued_ids(broker) == [openai_provider.pk]


def test_the_validate_now_button_queues_a_check_and_returns_to_the_change_page(
    client, editor, openai_provider, broker, django_capture_on_commit_callbacks
):
    mark_valid(openai_provider)
    client.force_login(editor)
    url = reverse("admin:providers_llmprovider_validate", args=[openai_provider.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:providers_llmprovider_change", args=[openai_provider.pk])
    assert LLMProvider.objects.get(pk=openai_provider.pk).validation_status == ValidationStatus.PENDING
    assert queued_ids(broker) == [openai_provider.pk]


def test_a_read_only_user_cannot_validate_and_nothing_is_queued(client, reader, openai_provider, broker):
    mark_valid(openai_provider)
    client.force_login(reader)

    response = client.post(reverse("admin:providers_llmprovider_validate", args=[openai_provider.pk]))

    assert response.status_code == 403
    assert LLMProvider.objects.get(pk=openai_provider.pk).validation_status == ValidationStatus.VALID
    assert queued_ids(broker) == []


def test_the_button_does_nothing_on_get(client, editor, openai_provider, broker):
    mark_valid(openai_provider)
    client.force_login(editor)

    response = client.get(reverse("admin:providers_llmprovider_validate", args=[openai_provider.pk]))

    assert response.status_code == 405
    assert LLMProvider.objects.get(pk=openai_provider.pk).validation_status == ValidationStatus.VALID


def test_the_provider_pages_carry_the_badge_and_the_live_scripts(client, editor, openai_provider):
    client.force_login(editor)

    listing = client.get(reverse("admin:providers_llmprovider_changelist")).content.decode()
    change = client.get(reverse("admin:providers_llmprovider_change", args=[openai_provider.pk])).content.decode()

    for html in (listing, change):
        assert f'data-provider-id="{openai_provider.pk}" data-status="pending"' in html
        assert "live/events.js" in html and "live/provider_badges.js" in html
        assert 'id="badge-colours"' in html
    assert "Validate now" in change
    assert reverse("admin:providers_llmprovider_validate", args=[openai_provider.pk]) in change
