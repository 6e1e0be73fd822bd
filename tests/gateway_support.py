"""The gateway's test world: a loopback vendor, agents configured on it, and callers."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
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
        is read on the loop that opened it, as under uvicorn). Returns (response, frames)."""
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
    from agents_llm.agents.services import agent_create, llm_config_create

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


# Real servers ---------------------------------------------------------------------------


def database_url() -> str:
    """The test database, for server processes: a file on SQLite (see conftest)."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def running_servers(count: int, **extra_env: str) -> Iterator[list[int]]:
    """`count` uvicorn processes serving the project on the test's database (DEBUG off,
    no Redis needed, plus `extra_env`), stopped afterwards; their logs may not hold a
    500 or a traceback."""
    from django.conf import settings

    from tests.e2e_support import start_uvicorn, stop

    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1", "DEBUG": "false",
           "DJANGO_SECRET_KEY": "e2e-secret-" + "x" * 40, "ENCRYPTION_KEY": settings.ENCRYPTION_KEY, **extra_env}
    logdir = Path(tempfile.mkdtemp(prefix="gateway-e2e-"))
    processes: list[subprocess.Popen] = []
    ports: list[int] = []
    try:
        for index in range(count):
            process, port = start_uvicorn(env, logdir / f"server-{index}.log")
            processes.append(process)
            ports.append(port)
        yield ports
    finally:
        stop(processes)
    for log in logdir.iterdir():
        text = log.read_text()
        assert " 500 " not in text and "Traceback" not in text, text[-3000:]
