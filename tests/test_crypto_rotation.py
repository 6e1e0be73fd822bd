from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from agents_llm.agents.services import llm_config_create
from providers import crypto
from providers.models import LLMProvider, ValidationStatus
from providers.services import provider_create

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_a_secret_round_trips_and_is_not_stored_in_clear(settings):
    settings.ENCRYPTION_KEY = OLD_KEY
    token = crypto.encrypt("sk-roundtrip-1234")

    assert "sk-roundtrip" not in token
    assert crypto.decrypt(token) == "sk-roundtrip-1234"


def test_a_token_from_a_previous_key_still_decrypts(settings):
    settings.ENCRYPTION_KEY = OLD_KEY
    token = crypto.encrypt("sk-previous-5678")
    settings.ENCRYPTION_KEY = NEW_KEY
    settings.ENCRYPTION_KEYS_PREVIOUS = [OLD_KEY]

    assert crypto.decrypt(token) == "sk-previous-5678"
    assert not crypto.is_current(token)


@pytest.mark.django_db
def test_rotatekeys_re_encrypts_every_secret_under_the_new_key_and_reports_counts(settings, agent):
    settings.ENCRYPTION_KEY = OLD_KEY
    provider = provider_create(name="openai-a", provider_type="openai", api_key="sk-provider-key-AAAA")
    config = llm_config_create(agent=agent, provider=provider, model_name="gpt-4o-mini", api_key="sk-agent-key-BBBB")
    versions_before = (provider.key_version, config.key_version)

    settings.ENCRYPTION_KEY = NEW_KEY
    settings.ENCRYPTION_KEYS_PREVIOUS = [OLD_KEY]
    out = StringIO()
    call_command("rotatekeys", stdout=out)

    assert "Re-encrypted 2 secret(s); 0 already under the current key; 0 undecryptable" in out.getvalue()
    settings.ENCRYPTION_KEYS_PREVIOUS = []  # the old key can now be retired
    provider.refresh_from_db()
    config.refresh_from_db()
    assert crypto.decrypt(provider.api_key_encrypted) == "sk-provider-key-AAAA"
    assert crypto.decrypt(config.api_key_encrypted) == "sk-agent-key-BBBB"
    assert (provider.key_version, config.key_version) == versions_before

    out = StringIO()
    call_command("rotatekeys", stdout=out)
    assert "Re-encrypted 0 secret(s); 2 already under the current key" in out.getvalue()


@pytest.mark.django_db
def test_an_undecryptable_secret_marks_its_provider_and_the_admin_still_renders(settings, client, superuser):
    settings.ENCRYPTION_KEY = OLD_KEY
    provider = provider_create(name="lost-key", provider_type="openai", api_key="sk-lost-key-CCCC")
    settings.ENCRYPTION_KEY = NEW_KEY  # the old key is gone for good

    out, err = StringIO(), StringIO()
    call_command("rotatekeys", stdout=out, stderr=err)

    assert "1 undecryptable" in out.getvalue()
    provider.refresh_from_db()
    assert provider.validation_status == ValidationStatus.UNDECRYPTABLE
    assert "cannot be decrypted" in provider.validation_error
    client.force_login(superuser)
    for url in ("/admin/providers/llmprovider/", f"/admin/providers/llmprovider/{provider.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"Undecryptable" in response.content
        assert b"sk-lost-key" not in response.content
    assert LLMProvider.objects.get(pk=provider.pk).api_key_last4 == "CCCC"


def test_decrypt_errors_never_contain_the_secret(settings):
    settings.ENCRYPTION_KEY = OLD_KEY
    token = crypto.encrypt("sk-hidden-secret-DDDD")
    settings.ENCRYPTION_KEY = NEW_KEY

    with pytest.raises(crypto.UndecryptableSecret) as excinfo:
        crypto.decrypt(token)

    assert "sk-hidden" not in str(excinfo.value)
    assert token not in str(excinfo.value)
