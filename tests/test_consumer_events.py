"""Subscribers of /ws/events/ get create/update/delete events of their topics only."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from agents_llm.agents.services import agent_create, agent_delete, agent_update, llm_config_create, task_create
from providers.services import provider_create, provider_delete, provider_update
from tests.ws_support import next_event, open_socket, subscribe
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.fixture
async def socket(token):
    communicator, connected, _ = await open_socket(token=token)
    assert connected
    yield communicator
    await communicator.disconnect()


async def test_a_subscriber_receives_create_update_and_delete_of_a_provider(socket):
    await subscribe(socket, "providers")

    provider = await db(provider_create)(name="groq-main", provider_type="groq", api_key="gsk-test-0001")
    created = await next_event(socket)
    await db(provider_update)(provider=provider, data={"enabled": False})
    updated = await next_event(socket)
    provider_id = provider.pk
    await db(provider_delete)(provider=provider)
    deleted = await next_event(socket)

    assert (created["topic"], created["event"], created["id"]) == ("providers", "created", provider_id)
    assert created["data"]["name"] == "groq-main"
    assert created["data"]["validation_status"] == "pending"
    assert created["ts"]
    assert (updated["event"], updated["data"]["enabled"]) == ("updated", False)
    assert (deleted["event"], deleted["id"], deleted["data"]) == ("deleted", provider_id, {"id": provider_id, "name": "groq-main"})


async def test_agents_tasks_and_llm_configs_have_topics_of_their_own(socket, offline_provider):
    await subscribe(socket, "agents", "tasks", "llm_configs")

    agent = await db(agent_create)(name="bull", display_name="Bull", role="researcher")
    await db(task_create)(name="brief", prompt_template="Brief on {ticker}.", response_schema={"type": "object"})
    config = await db(llm_config_create)(agent=agent, provider=offline_provider, model_name="offline")
    frames = [await next_event(socket) for _ in range(3)]

    assert [(f["topic"], f["event"]) for f in frames] == [
        ("agents", "created"), ("tasks", "created"), ("llm_configs", "created"),
    ]
    assert frames[2]["id"] == config.pk
    assert frames[2]["data"]["agent_id"] == agent.pk
    assert frames[2]["data"]["model_name"] == "offline"


async def test_no_event_arrives_for_a_topic_the_client_did_not_subscribe_to(socket):
    await subscribe(socket, "agents")

    await db(provider_create)(name="groq-main", provider_type="groq", api_key="gsk-test-0001")
    agent = await db(agent_create)(name="bear", display_name="Bear", role="researcher")

    # Events leave in publishing order: had the provider's come, it would come first.
    frame = await next_event(socket)
    assert (frame["topic"], frame["id"]) == ("agents", agent.pk)
    assert await socket.receive_nothing(timeout=0.3)


async def test_after_unsubscribing_no_more_events_arrive(socket):
    await subscribe(socket, "agents")
    agent = await db(agent_create)(name="bear", display_name="Bear", role="researcher")
    assert (await next_event(socket))["event"] == "created"

    await socket.send_json_to({"action": "unsubscribe", "topics": ["agents"]})
    assert await socket.receive_json_from(timeout=3) == {"event": "unsubscribed", "topics": []}
    await db(agent_update)(agent=agent, data={"display_name": "Bear (new)"})
    await db(agent_delete)(agent=agent)

    assert await socket.receive_nothing(timeout=0.3)


async def test_an_unknown_topic_gets_an_error_frame_and_the_known_ones_are_subscribed(socket):
    await socket.send_json_to({"action": "subscribe", "topics": ["providers", "weather"]})

    error = await socket.receive_json_from(timeout=3)
    ack = await socket.receive_json_from(timeout=3)
    assert error["event"] == "error"
    assert error["topics"] == ["weather"]
    assert "weather" in error["detail"] and "providers" in error["detail"]
    assert ack == {"event": "subscribed", "topics": ["providers"]}


async def test_malformed_messages_get_an_error_frame_and_the_socket_stays_open(socket):
    await socket.send_to(text_data="not json")
    assert (await socket.receive_json_from(timeout=3))["event"] == "error"
    await socket.send_json_to({"action": "subscribe", "topics": "providers"})
    assert "must be a list" in (await socket.receive_json_from(timeout=3))["detail"]
    await socket.send_json_to({"action": "dance"})
    assert "Unknown action" in (await socket.receive_json_from(timeout=3))["detail"]

    assert (await subscribe(socket, "tasks"))["event"] == "subscribed"
