"""The provider page's "Validate now" is a styled object-tool button and its available
models read as a list, not as raw JSON."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from providers.models import LLMProvider

pytestmark = pytest.mark.django_db


def test_validate_now_is_styled_like_the_other_object_tools(client, superuser, openai_provider):
    client.force_login(superuser)

    html = client.get(reverse("admin:providers_llmprovider_change", args=[openai_provider.pk])).content.decode()

    assert 'class="object-tool-button validate-now"' in html
    assert "/static/operator/admin.css" in html
    assert "button.object-tool-button" in open(finders.find("operator/admin.css")).read()


def test_available_models_are_listed_by_name(client, superuser, openai_provider):
    LLMProvider.objects.filter(pk=openai_provider.pk).update(available_models=["gpt-4o", "gpt-4o-mini"])
    client.force_login(superuser)

    html = client.get(reverse("admin:providers_llmprovider_change", args=[openai_provider.pk])).content.decode()

    assert "2 model(s)" in html
    assert "<li><code>gpt-4o-mini</code></li>" in html
    assert "[&#x27;gpt-4o" not in html and '["gpt-4o' not in html


def test_no_available_models_yet_says_how_to_get_them(client, superuser, openai_provider):
    client.force_login(superuser)

    html = client.get(reverse("admin:providers_llmprovider_change", args=[openai_provider.pk])).content.decode()

    assert "None reported yet" in html
    assert ">[]<" not in html
