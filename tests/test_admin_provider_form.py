"""Adding a provider in the admin: a display name becomes the slug, errors keep what was
typed (but never the key) and say the key must be re-entered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from providers.models import LLMProvider

pytestmark = pytest.mark.django_db

ADD = "admin:providers_llmprovider_add"


def test_a_display_name_with_spaces_is_saved_as_its_slug(client, superuser, canary_key):
    client.force_login(superuser)

    response = client.post(reverse(ADD), {
        "name": "My OpenAI", "provider_type": "openai", "base_url": "", "enabled": "on", "api_key": canary_key,
    })

    assert response.status_code == 302, response.content.decode()[:2000]
    provider = LLMProvider.objects.get()
    assert provider.name == "my-openai"
    assert provider.api_key_last4 == canary_key[-4:]


def test_an_error_keeps_the_typed_name_and_says_the_key_must_be_typed_again(client, superuser, canary_key):
    client.force_login(superuser)

    response = client.post(reverse(ADD), {
        "name": "My Local Model", "provider_type": "openai_compatible", "base_url": "", "enabled": "on",
        "api_key": canary_key,
    })

    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="My Local Model"' in html
    assert "An OpenAI-compatible provider needs a base URL." in html
    assert "re-enter it before saving" in html
    assert canary_key not in html
    assert not LLMProvider.objects.exists()


def test_a_name_without_letters_or_digits_is_refused_with_a_plain_message(client, superuser):
    client.force_login(superuser)

    response = client.post(reverse(ADD), {"name": "!!!", "provider_type": "offline", "enabled": "on"})

    assert response.status_code == 200
    assert "The name needs at least one letter or digit." in response.content.decode()
    assert not LLMProvider.objects.exists()


def test_the_add_page_has_one_key_field_and_no_validation_section(client, superuser):
    client.force_login(superuser)

    html = client.get(reverse(ADD)).content.decode()

    assert html.count("API key:") == 1
    assert ">Validation<" not in html
    assert "Stored key" not in html


def test_the_change_page_labels_the_stored_key_apart_from_the_new_one(client, superuser, openai_provider):
    client.force_login(superuser)

    html = client.get(reverse("admin:providers_llmprovider_change", args=[openai_provider.pk])).content.decode()

    assert "Stored key:" in html
    assert html.count("API key:") == 1
    assert "…0001" in html
