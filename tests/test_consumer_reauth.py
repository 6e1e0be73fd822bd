"""An open socket loses its feed once its token is revoked or its user deactivated."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from tests.ws_support import open_socket, subscribe
from tradingagents.consumers import CLOSE_UNAUTHENTICATED
from tradingagents.models import APIToken
from tradingagents.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_recheck(settings):
    settings.WS_REAUTH_SECONDS = 0.1


@pytest.fixture
def token_row(reader):
    return api_token_create(user=reader, name="ws")


async def _assert_closed_for_revocation(communicator) -> None:
    frame = await communicator.receive_json_from(timeout=3)
    assert frame["event"] == "error"
    assert "revoked" in frame["detail"]
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def test_revoking_the_token_closes_an_open_socket(token_row):
    row, token = token_row
    communicator, connected, _ = await open_socket(token=token)
    assert connected
    assert (await subscribe(communicator, "providers"))["event"] == "subscribed"

    await database_sync_to_async(api_token_revoke)(token=row)

    await _assert_closed_for_revocation(communicator)
    assert await database_sync_to_async(APIToken.objects.filter(pk=row.pk, revoked_at__isnull=False).exists)()


async def test_deactivating_the_user_closes_a_socket_authenticated_by_message(token_row, reader):
    _row, token = token_row
    communicator, connected, _ = await open_socket()
    await communicator.send_json_to({"action": "auth", "token": token})
    assert (await communicator.receive_json_from(timeout=3))["event"] == "authenticated"

    reader.is_active = False
    await database_sync_to_async(reader.save)(update_fields=["is_active"])

    await _assert_closed_for_revocation(communicator)


async def test_a_socket_whose_credentials_hold_stays_open(token_row):
    _row, token = token_row
    communicator, connected, _ = await open_socket(token=token)
    assert connected

    assert await communicator.receive_nothing(timeout=0.5)
    assert (await subscribe(communicator, "runs"))["event"] == "subscribed"
    await communicator.disconnect()
