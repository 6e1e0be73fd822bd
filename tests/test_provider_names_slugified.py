"""A provider's name may be typed as a person would ("Local Vendor"): the admin and
the API both store its slug (`local-vendor`), and the API's answer shows it. The API
used to refuse such a name with a regex message."""

from __future__ import annotations

import pytest

from providers.models import LLMProvider
from tests.api_support import assert_error_shape, client_for

pytestmark = pytest.mark.django_db


def test_the_api_stores_and_answers_the_slug_of_a_name(editor):
    api = client_for(editor)

    created = api.post("/providers", {"name": "Local Vendor", "provider_type": "offline"})

    assert created.status_code == 201, created.content
    assert created.json()["name"] == "local-vendor"
    provider = LLMProvider.objects.get()
    assert provider.name == "local-vendor"

    renamed = api.patch(f"/providers/{provider.pk}", {"name": "My Anthropic"})

    assert renamed.status_code == 200 and renamed.json()["name"] == "my-anthropic"
    assert LLMProvider.objects.get().name == "my-anthropic"


def test_the_admin_and_the_api_make_the_same_slug(client, superuser, editor):
    client.force_login(superuser)
    client.post("/admin/providers/llmprovider/add/", {"name": "My Anthropic", "provider_type": "offline", "enabled": "on"})

    clash = client_for(editor).post("/providers", {"name": "my  ANTHROPIC", "provider_type": "offline"})

    assert LLMProvider.objects.filter(name="my-anthropic").count() == 1
    body = assert_error_shape(clash, 409)
    assert body["errors"][0]["loc"] == ["body", "name"]


def test_a_name_with_no_letter_or_digit_is_a_422_naming_the_field(editor):
    response = client_for(editor).post("/providers", {"name": "!!!", "provider_type": "offline"})

    body = assert_error_shape(response, 422)
    assert body["errors"][0]["loc"][-1] == "name"
    assert "at least one letter or digit" in body["errors"][0]["msg"]
    assert "pattern" not in response.content.decode() and not LLMProvider.objects.exists()
