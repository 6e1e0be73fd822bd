"""Subscribing to `runs` first sends the current state of unfinished and recently
finished runs, so a live runs list converges after a reconnect even when events were
lost meanwhile (e.g. a run.finished published while Redis was down)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from agents_llm.models import AgentRun, RunStatus
from tests.ws_support import next_event, open_socket, subscribe
from tradingagents.services import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
def token(reader) -> str:
    return api_token_create(user=reader, name="ws")[1]


@pytest.fixture
def runs(assignment, offline_config) -> dict[str, int]:
    now = timezone.now()

    def run(status: str, finished_ago: int | None = None) -> int:
        finished = None if finished_ago is None else now - timedelta(seconds=finished_ago)
        return AgentRun.objects.create(
            agent=assignment.agent, task=assignment.task, input={"ticker": "NVDA"}, status=status, finished_at=finished,
        ).pk

    return {
        "old": run(RunStatus.SUCCEEDED, finished_ago=3600),
        "queued": run(RunStatus.QUEUED),
        "running": run(RunStatus.RUNNING),
        "finished": run(RunStatus.FAILED, finished_ago=5),
    }


async def _frames(communicator, n: int) -> list[dict]:
    return [await next_event(communicator) for _ in range(n)]


async def test_subscribing_sends_the_current_state_of_live_and_recent_runs(token, runs):
    communicator, connected, _ = await open_socket(token=token)
    assert connected

    assert (await subscribe(communicator, "runs"))["event"] == "subscribed"
    frames = await _frames(communicator, 3)

    assert [(f["topic"], f["event"], f["id"], f["data"]["status"]) for f in frames] == [
        ("runs", "run.queued", runs["queued"], "queued"),
        ("runs", "run.started", runs["running"], "running"),
        ("runs", "run.finished", runs["finished"], "failed"),
    ]
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_run_that_finished_while_the_client_was_away_converges_on_resubscribe(token, runs):
    communicator, connected, _ = await open_socket(token=token)
    await subscribe(communicator, "runs")
    await _frames(communicator, 3)
    await communicator.disconnect()
    # Finished while nobody listened (its event went nowhere).
    await db(AgentRun.objects.filter(pk=runs["queued"]).update)(status=RunStatus.SUCCEEDED, finished_at=timezone.now())

    communicator, connected, _ = await open_socket(token=token)
    await subscribe(communicator, "runs")
    frames = {f["id"]: f for f in await _frames(communicator, 3)}

    assert frames[runs["queued"]]["event"] == "run.finished"
    assert frames[runs["queued"]]["data"]["status"] == "succeeded"
    await communicator.disconnect()


async def test_other_topics_get_no_snapshot(token, runs):
    communicator, connected, _ = await open_socket(token=token)

    await subscribe(communicator, "providers")

    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_runs_cost_reads_the_same_in_its_live_frame_and_in_the_snapshot(token, agent, task, assignment,
                                                                                 offline_config):
    from agents_llm.runs.runner import run_create, run_execute

    communicator, connected, _ = await open_socket(token=token)
    await subscribe(communicator, "runs")
    run = await db(run_create)(agent=agent, task=task, input={"ticker": "NVDA"}, enqueue=False)
    await db(run_execute)(run_id=run.pk)
    live = [await next_event(communicator) for _ in range(3)][-1]  # queued, started, finished
    await communicator.disconnect()

    communicator, connected, _ = await open_socket(token=token)
    await subscribe(communicator, "runs")
    snapshot = await next_event(communicator)
    await communicator.disconnect()

    assert (live["event"], snapshot["event"]) == ("run.finished", "run.finished")
    assert live["data"]["cost"] == snapshot["data"]["cost"] == "0"  # not "0E-8" from the column
    assert live["data"] == snapshot["data"]
