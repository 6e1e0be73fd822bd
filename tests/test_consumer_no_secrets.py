"""No frame of /ws/events/ ever carries an API key or its encrypted form."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from agents_llm.agents.services import llm_config_create, llm_config_update
from providers.models import LLMProvider
from providers.services import provider_create, provider_update
from providers.validation import provider_validate
from tests.conftest import CANARY_KEY
from tests.fake_vendor import FakeVendor
from tests.ws_support import open_socket, subscribe
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.fixture
def vendor():
    with FakeVendor(script=[401]) as vendor:
        yield vendor


async def test_no_frame_carries_a_key_or_its_ciphertext(token, vendor, agent, offline_provider):
    communicator, connected, _ = await open_socket(token=token)
    assert connected
    await subscribe(communicator, "providers", "llm_configs")

    provider = await db(provider_create)(
        name="openai-main", provider_type="openai", base_url=vendor.url + "/v1", api_key=CANARY_KEY
    )
    await db(provider_update)(provider=provider, data={"enabled": False}, api_key=CANARY_KEY[::-1])
    await db(provider_update)(provider=provider, data={}, api_key=CANARY_KEY)
    await db(provider_validate)(provider_id=provider.pk)  # the vendor answers 401
    config = await db(llm_config_create)(
        agent=agent, provider=offline_provider, model_name="offline", api_key=CANARY_KEY
    )
    await db(llm_config_update)(config=config, data={"temperature": 0.2}, api_key=CANARY_KEY)
    texts = [await communicator.receive_from(timeout=3) for _ in range(7)]
    await communicator.disconnect()

    ciphertexts = [await db(lambda: LLMProvider.objects.get(pk=provider.pk).api_key_encrypted)(), config.api_key_encrypted]
    assert vendor.requests, "the probe ran"
    for text in texts:
        assert CANARY_KEY not in text
        assert CANARY_KEY[::-1] not in text
        assert CANARY_KEY[:-4] not in text
        assert "api_key_encrypted" not in text
        for ciphertext in ciphertexts:
            assert ciphertext not in text
    assert any('"validation"' in text and "refused the API key" in text for text in texts)
    assert any('"api_key_hint": "\\u2026ZQXW"' in text for text in texts)
