"""A change to an agent's LLM config, made through one server process, is used by the
very next run (executed by a separate worker process) and the very next gateway call
(served by a second server process): every process keeps the agent's chain, and the
version bumped by the change retires it everywhere at once."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.e2e_support import BASE_DIR, E2E_MARKS, database_url, start_uvicorn, stop, wait_until
from tradingagents.services import api_token_create

pytestmark = E2E_MARKS


@pytest.fixture
def two_servers_and_a_worker(django_db_setup):
    import dramatiq

    dramatiq.get_broker().flush_all()
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "PYTHONUNBUFFERED": "1"}
    env.pop("DRAMATIQ_EMBEDDED_WORKER", None)
    logdir = Path(tempfile.mkdtemp(prefix="e2e-two-"))
    processes: list[subprocess.Popen] = []
    try:
        first, first_port = start_uvicorn(env, logdir / "first.log")
        processes.append(first)
        second, second_port = start_uvicorn(env, logdir / "second.log")
        processes.append(second)
        worker_log = logdir / "worker.log"
        processes.append(subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", "--processes", "1", "--threads", "2"],
            cwd=BASE_DIR, env=env, stdout=worker_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        ))
        wait_until(lambda: "ready for action" in worker_log.read_text(), 60, "rundramatiq", [worker_log])
        yield first_port, second_port
    finally:
        stop(processes)


def _finished_run(client: httpx.Client, run_id: int) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def test_a_config_change_through_one_process_is_used_by_the_next_run_and_the_next_call_of_the_others(
    two_servers_and_a_worker, editor, assignment, offline_config
):
    first_port, second_port = two_servers_and_a_worker
    headers = {"Authorization": f"Bearer {api_token_create(user=editor, name='e2e')[1]}"}
    first = httpx.Client(base_url=f"http://127.0.0.1:{first_port}", headers=headers, timeout=30)
    second = httpx.Client(base_url=f"http://127.0.0.1:{second_port}", headers=headers, timeout=30)
    run_body = {"agent": "trader", "task": "trade-signal", "input": {"ticker": "NVDA"}}
    call_body = {"model": "trader", "messages": [{"role": "user", "content": "A signal for NVDA?"}]}

    def run_model() -> str:
        queued = first.post("/api/v1/runs", json=run_body)
        assert queued.status_code == 202, queued.text
        run = _finished_run(first, queued.json()["id"])
        assert run["status"] == "succeeded", run
        return run["model_name"]

    def call_model() -> str:
        answer = second.post("/v1/chat/completions", json=call_body)
        assert answer.status_code == 200, answer.text
        return answer.headers["x-vendor-model"]

    # Both processes have built and kept the chain.
    assert [run_model(), run_model()] == ["offline", "offline"]
    assert [call_model(), call_model()] == ["offline", "offline"]

    changed = first.patch(f"/api/v1/llm-configs/{offline_config.pk}", json={"model_name": "offline-b"})
    assert changed.status_code == 200, changed.text

    assert call_model() == "offline-b"
    assert run_model() == "offline-b"
    from agents_llm.models import AgentLLMConfig

    assert AgentLLMConfig.objects.get(pk=offline_config.pk).model_name == "offline-b"
