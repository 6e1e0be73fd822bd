"""The gateway's test world: a loopback vendor, agents configured on it, and callers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.conftest import CANARY_KEY
from tests.fake_chat import FakeChat
from tradingagents.services import api_token_create

URL = "/v1/chat/completions"


@pytest.fixture
def vendor() -> Iterator[FakeChat]:
    fake = FakeChat().start()
    yield fake
    fake.stop()


@pytest.fixture
def vendor_provider(db, vendor):
    from providers.services import provider_create

    return provider_create(name="vendor", provider_type="openai_compatible", base_url=vendor.base_url, api_key=CANARY_KEY)


@pytest.fixture
def caller(db) -> User:
    """A user who may call the gateway, through a group as an operator would grant it."""
    from django.contrib.auth.models import Group

    user = User.objects.create_user("caller", "caller@example.com", "caller-pass-123")
    group = Group.objects.create(name="gateway users")
    group.permissions.add(Permission.objects.get(codename="use_gateway"))
    user.groups.add(group)
    return user


class GatewayClient:
    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def chat(self, body: Any, session: str | None = None):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers = {**self.headers, **({"X-Session-Id": session} if session else {})}
        return self.client.post(URL, data=data, content_type="application/json", headers=headers)

    def models(self):
        return self.client.get("/v1/models", headers=self.headers)

    async def astream(self, body: Any) -> tuple[Any, list[Any]]:
        """A streamed call through the ASGI handler, on this test's event loop (a stream
        is read on the loop that opened it, as under daphne). Returns (response, frames)."""
        from django.test import AsyncClient

        response = await AsyncClient().post(URL, data=json.dumps(body), content_type="application/json", headers=self.headers)
        if not response.streaming:
            return response, []
        data = b"".join([chunk async for chunk in response.streaming_content])
        return response, frames_of(data.decode())


@pytest.fixture
def gateway(caller) -> GatewayClient:
    _, token = api_token_create(user=caller, name="gateway tests")
    return GatewayClient(token)


def make_agent(name: str, provider, model: str, *, aliases: list[str] | None = None, **config: Any):
    """An agent whose primary config is `model` on `provider` (plus `config` fields)."""
    from agents_llm.services import agent_create, llm_config_create

    agent = agent_create(name=name, instructions=f"You are {name}.", aliases=aliases or [])
    llm_config_create(agent=agent, provider=provider, model_name=model, **config)
    return agent


def user_message(text: str = "Give me a signal for NVDA.") -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are careful."}, {"role": "user", "content": text}]


def frames_of(body: str) -> list[Any]:
    frames = []
    for block in body.split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            frames.append(data if data == "[DONE]" else json.loads(data))
    return frames


def streamed(response) -> list[Any]:
    """The frames of a server-sent-events response: parsed JSON, or the string '[DONE]'."""
    from asgiref.sync import async_to_sync

    content = response.streaming_content
    if hasattr(content, "__aiter__"):
        async def collect() -> bytes:
            return b"".join([chunk async for chunk in content])

        body = async_to_sync(collect)().decode()
    else:
        body = b"".join(content).decode()
    frames = []
    for block in body.split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            frames.append(data if data == "[DONE]" else json.loads(data))
    return frames
