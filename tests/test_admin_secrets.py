"""A canary key saved through the admin shows up nowhere but encrypted at rest."""

from __future__ import annotations

import logging

import pytest
from django.contrib import admin
from django.urls import reverse

from agents_llm.models import AgentLLMConfig
from providers import crypto
from providers.models import LLMProvider
from tests.conftest import CANARY_KEY, CANARY_LAST4

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved_with_canary(client, superuser, agent, offline_provider, caplog, settings):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    settings.DEBUG = True  # so that every SQL statement and its parameters are logged too
    client.force_login(superuser)
    response = client.post(
        "/admin/providers/llmprovider/add/",
        {"name": "canary-openai", "provider_type": "openai", "base_url": "", "enabled": "on", "api_key": CANARY_KEY},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    provider = LLMProvider.objects.get(name="canary-openai")
    response = client.post(
        "/admin/agents_llm/agentllmconfig/add/",
        {
            "agent": agent.pk, "priority": 0, "enabled": "on", "provider": provider.pk,
            "model_name": "gpt-4o-mini", "temperature": "0.7", "max_tokens": "", "top_p": "",
            "fallback_provider": "", "fallback_model": "", "cost_per_1k_input_tokens": "0",
            "cost_per_1k_output_tokens": "0", "metadata_json": "{}", "api_key": CANARY_KEY,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    # An update that leaves the key blank keeps it.
    response = client.post(
        f"/admin/providers/llmprovider/{provider.pk}/change/",
        {"name": "canary-openai", "provider_type": "openai", "base_url": "https://api.openai.com/v1", "enabled": "on", "api_key": ""},
    )
    assert response.status_code == 302
    return provider, AgentLLMConfig.objects.get(agent=agent)


def _admin_urls(*objects) -> list[str]:
    urls = []
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        for obj in model._default_manager.all()[:3]:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
            if hasattr(admin.site._registry[model], "history_view"):
                urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]))
    return urls


def test_the_canary_key_is_stored_encrypted_with_only_its_last_four_characters_in_clear(saved_with_canary):
    provider, config = saved_with_canary

    for obj in (provider, config):
        assert obj.api_key_last4 == CANARY_LAST4
        assert CANARY_KEY not in obj.api_key_encrypted
        assert crypto.decrypt(obj.api_key_encrypted) == CANARY_KEY


def test_no_admin_page_shows_the_canary_key_only_its_hint(saved_with_canary, client):
    provider, _config = saved_with_canary
    urls = _admin_urls()
    assert len(urls) > 10

    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert CANARY_KEY not in response.content.decode(), url
    change_page = client.get(f"/admin/providers/llmprovider/{provider.pk}/change/").content.decode()
    assert f"…{CANARY_LAST4}" in change_page
    assert 'type="password"' in change_page


def test_the_audit_trail_records_changes_without_the_secret(saved_with_canary, superuser, client):
    provider, config = saved_with_canary
    history_page = client.get(f"/admin/providers/llmprovider/{provider.pk}/history/").content.decode()
    assert "https://api.openai.com/v1" in history_page  # the change, before → after
    assert "root" in history_page  # who
    assert CANARY_KEY not in history_page

    records = list(provider.history.all())
    assert len(records) == 2
    newest, oldest = records
    assert newest.history_user == superuser
    delta = newest.diff_against(oldest)
    assert {change.field for change in delta.changes} >= {"base_url"}
    for model in (provider.history.model, config.history.model):
        field_names = {f.name for f in model._meta.get_fields()}
        assert "api_key_encrypted" not in field_names
        for row in model.objects.values():
            assert CANARY_KEY not in str(row)


def test_the_logs_never_carry_the_canary_key(saved_with_canary, caplog):
    records = caplog.get_records("setup")
    assert any(r.name == "django.db.backends" for r in records)  # the inserts were logged
    for record in records:
        assert CANARY_KEY not in record.getMessage()
