"""/ws/events/ refuses connections without a session or a live API token."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.ws_support import open_socket, subscribe
from tradingagents.consumers import CLOSE_UNAUTHENTICATED
from tradingagents.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.fixture
def revoked_token(reader) -> str:
    row, token = api_token_create(user=reader, name="old")
    api_token_revoke(token=row)
    return token


@pytest.fixture
def outsider_token(outsider) -> str:
    return api_token_create(user=outsider, name="ws")[1]


@pytest.fixture
def reader_cookie(reader) -> str:
    client = Client()
    client.force_login(reader)
    return f"sessionid={client.cookies['sessionid'].value}"


async def test_a_socket_without_credentials_is_closed_when_it_asks_for_anything_but_auth():
    communicator, connected, _ = await open_socket()
    assert connected  # it may still send {"action": "auth"}

    await communicator.send_json_to({"action": "subscribe", "topics": ["providers"]})

    frame = await communicator.receive_json_from(timeout=3)
    assert frame["event"] == "error"
    assert "Authenticate first" in frame["detail"]
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def _closed_with_4401(communicator) -> None:
    frame = await communicator.receive_json_from(timeout=3)
    assert frame == {"event": "error", "detail": "Invalid, revoked or inactive API token."}
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def test_an_unknown_token_in_the_query_string_is_closed_with_4401_as_the_readme_says():
    communicator, connected, _ = await open_socket(token="ta_not-a-real-token")
    assert connected  # accepted, so that the client gets the close code and the reason
    await _closed_with_4401(communicator)


async def test_a_revoked_token_is_refused(revoked_token):
    communicator, connected, _ = await open_socket(token=revoked_token)
    await _closed_with_4401(communicator)


async def test_an_inactive_users_token_is_refused(outsider_token):
    communicator, connected, _ = await open_socket(token=outsider_token)
    await _closed_with_4401(communicator)


async def test_a_wrong_token_in_the_auth_message_closes_the_socket():
    communicator, connected, _ = await open_socket()
    await communicator.send_json_to({"action": "auth", "token": "ta_wrong"})

    frame = await communicator.receive_json_from(timeout=3)
    assert frame["event"] == "error"
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def test_a_token_in_the_query_string_lets_the_client_subscribe(token):
    communicator, connected, _ = await open_socket(token=token)
    assert connected

    assert await subscribe(communicator, "providers") == {"event": "subscribed", "topics": ["providers"]}
    await communicator.disconnect()


async def test_a_token_in_a_first_auth_message_lets_the_client_subscribe(token):
    communicator, connected, _ = await open_socket()
    await communicator.send_json_to({"action": "auth", "token": token})

    assert await communicator.receive_json_from(timeout=3) == {"event": "authenticated"}
    assert await subscribe(communicator, "agents") == {"event": "subscribed", "topics": ["agents"]}
    await communicator.disconnect()


async def test_a_logged_in_session_lets_the_client_subscribe(reader_cookie):
    communicator, connected, _ = await open_socket(cookie=reader_cookie)
    assert connected

    assert await subscribe(communicator, "runs") == {"event": "subscribed", "topics": ["runs"]}
    await communicator.disconnect()


async def test_the_session_of_a_user_deactivated_since_login_is_not_enough(reader, reader_cookie):
    reader.is_active = False
    await database_sync_to_async(reader.save)()

    communicator, connected, _ = await open_socket(cookie=reader_cookie)
    await communicator.send_json_to({"action": "subscribe", "topics": ["providers"]})

    assert (await communicator.receive_json_from(timeout=3))["event"] == "error"
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def test_a_token_holding_a_lone_surrogate_in_the_auth_message_closes_the_socket_with_4401():
    communicator, connected, _ = await open_socket()
    await communicator.send_to(text_data='{"action": "auth", "token": "\\ud800"}')

    frame = await communicator.receive_json_from(timeout=3)
    assert frame["event"] == "error"
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def test_a_socket_that_never_authenticates_is_closed_with_4401_after_the_auth_timeout(monkeypatch):
    from tradingagents import consumers

    assert consumers.AUTH_TIMEOUT_SECONDS == 10  # as the README says
    monkeypatch.setattr(consumers, "AUTH_TIMEOUT_SECONDS", 0.3)
    communicator, connected, _ = await open_socket()
    assert connected

    frame = await communicator.receive_json_from(timeout=3)
    assert frame == {"event": "error", "detail": "Authentication timed out."}
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
