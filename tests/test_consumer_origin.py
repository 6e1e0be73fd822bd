"""/ws/events/ only accepts browser handshakes from the site's own hosts: a page on
another site cannot ride a staff session cookie. Programs without an Origin header
(token clients) are unaffected."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.ws_support import open_socket, subscribe
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_cookie(superuser) -> str:
    client = Client()
    client.force_login(superuser)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "https://127.0.0.1.evil.example"])
async def test_a_staff_session_from_a_foreign_origin_is_refused_at_the_handshake(staff_cookie, origin):
    communicator, connected, _ = await open_socket(cookie=staff_cookie, origin=origin)

    assert not connected


async def test_a_staff_session_from_the_sites_own_origin_subscribes(staff_cookie):
    communicator, connected, _ = await open_socket(cookie=staff_cookie, origin="http://127.0.0.1:8000")
    assert connected

    reply = await subscribe(communicator, "providers", "runs")

    assert reply["event"] == "subscribed"
    await communicator.disconnect()


async def test_a_token_client_without_an_origin_keeps_working(token):
    communicator, connected, _ = await open_socket(token=token)
    assert connected

    reply = await subscribe(communicator, "runs")

    assert reply["event"] == "subscribed"
    await communicator.disconnect()


async def test_a_token_from_a_foreign_origin_is_refused_too(token):
    communicator, connected, _ = await open_socket(token=token, origin="http://evil.example")

    assert not connected
