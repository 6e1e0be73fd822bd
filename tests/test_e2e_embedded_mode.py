"""End to end in embedded mode (`make run` without Redis): one uvicorn process on a
SQLite file, the StubBroker and its worker thread inside that process, the in-memory
channel layer. A provider created through the API is validated in the background and
its statuses arrive live over the websocket."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CANARY_KEY
from tests.e2e_support import BASE_DIR, start_uvicorn, stop
from tests.fake_vendor import FakeVendor

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def embedded_server() -> Iterator[tuple[int, str]]:
    workdir = Path(tempfile.mkdtemp(prefix="embedded-"))
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DRAMATIQ_BROKER_URL", "DRAMATIQ_EMBEDDED_WORKER")}
    env.update(DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}", PYTHONUNBUFFERED="1",
               DJANGO_SUPERUSER_USERNAME="admin", DJANGO_SUPERUSER_PASSWORD="embedded-pass-123")

    def manage(*args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput")
    manage("ensureadmin")
    token = manage("createapitoken", "admin").strip()
    process, port = start_uvicorn(env, workdir / "server.log")
    try:
        yield port, token
    finally:
        stop([process])


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    with FakeVendor() as vendor:
        yield vendor


async def test_the_server_process_validates_a_new_provider_by_itself_and_streams_the_statuses(embedded_server, vendor):
    import websockets

    port, token = embedded_server
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/events/?token={token}") as ws:
        await ws.send(json.dumps({"action": "subscribe", "topics": ["providers"]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "subscribed"

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.post(
                "/api/v1/providers", headers={"Authorization": f"Bearer {token}"},
                json={"name": "fake-openai", "provider_type": "openai", "base_url": vendor.url + "/v1", "api_key": CANARY_KEY},
            )
            assert response.status_code == 201, response.text
            provider_id = response.json()["id"]

            statuses: list[str] = []

            async def until_valid() -> None:
                while not statuses or statuses[-1] != "valid":
                    frame = json.loads(await ws.recv())
                    if frame.get("id") == provider_id and (not statuses or statuses[-1] != frame["data"]["validation_status"]):
                        statuses.append(frame["data"]["validation_status"])

            await asyncio.wait_for(until_valid(), 5)
            stored = (await client.get(f"/api/v1/providers/{provider_id}", headers={"Authorization": f"Bearer {token}"})).json()

    assert statuses == ["pending", "validating", "valid"]
    assert stored["validation_status"] == "valid"
    assert stored["available_models"]
    assert [r.path for r in vendor.requests] == ["/v1/models"]
