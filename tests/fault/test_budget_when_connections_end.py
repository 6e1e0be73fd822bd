"""Budget accounting survives the database ending its connections mid-call (issue 27,
item 2): 100 budgeted gateway calls, a third of them streamed, across two server
processes on PostgreSQL with the pool, while every connection of the servers is
terminated again and again. Afterwards every reservation is settled (reserved = 0),
the session's spent is the sum of its calls' rows, it never exceeds the budget, no
call answered 500, and the first request after the last termination is answered."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest
from django.db import connection

from agents_llm.metering.sessions import session_create
from agents_llm.models import LLMCall, MeteredSession, Reservation
from tests.asgi_support import postgresql_only
from tests.gateway_support import caller, make_agent, running_servers, vendor, vendor_provider  # noqa: F401

pytestmark = [postgresql_only, pytest.mark.django_db(transaction=True)]

CALLS = 100
ROUNDS = 8


def _own_backend() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _end_the_servers_connections(spared: int) -> int:
    """Every session of the test database but this thread's and `spared` (the test's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s", [spared],
        )
        return cursor.fetchone()[0]


def _call(port: int, token: str, index: int) -> tuple[int, str]:
    body = {"model": "trader", "messages": [{"role": "user", "content": f"A signal for NVDA ({index})."}],
            "max_tokens": 40, "stream": index % 3 == 0}
    try:
        response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body,
                              headers={"Authorization": f"Bearer {token}"}, timeout=60)
    except httpx.HTTPError as exc:  # a stream cut by its server is the client's to see, not a 500
        return 0, type(exc).__name__
    return response.status_code, response.text[:200]


def test_ended_connections_leave_no_reservation_behind_and_spent_equals_the_rows(caller, vendor, vendor_provider):  # noqa: F811
    make_agent("trader", vendor_provider, "vendor-trader",
               cost_per_1k_input_tokens=Decimal("0.01"), cost_per_1k_output_tokens=Decimal("0.03"))
    vendor.script("vendor-trader", {"auto": True, "delay": 0.05})  # calls stay in flight while connections end
    session, token = session_create(owner=caller, name="faults", budget_tokens=60 * 120)

    test_backend = _own_backend()
    with running_servers(2, DATABASE_POOL="true", DB_RETRY_SECONDS="10") as ports:
        ended: list[int] = []
        done = threading.Event()

        def terminate() -> None:
            try:
                for _ in range(ROUNDS):
                    if done.is_set():
                        break
                    time.sleep(0.3)
                    ended.append(_end_the_servers_connections(test_backend))
            finally:
                connection.close()

        killer = threading.Thread(target=terminate)
        killer.start()
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda i: _call(ports[i % 2], token, i), range(CALLS)))
        done.set()
        killer.join()
        _end_the_servers_connections(test_backend)
        after = [httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=30).status_code for port in ports]

    statuses = [status for status, _ in results]
    assert sum(ended) > 0, "no connection was ended: the test tested nothing"
    assert 500 not in statuses, [r for r in results if r[0] == 500]
    assert statuses.count(200) >= 20, statuses
    session = MeteredSession.objects.get(pk=session.pk)
    calls = LLMCall.objects.filter(session=session)
    assert (session.reserved_tokens, session.reserved_usd) == (0, 0)
    assert not Reservation.objects.filter(session=session).exists()
    assert session.spent_tokens == sum(c.input_tokens + c.output_tokens for c in calls)
    assert session.spent_usd == sum((c.cost for c in calls if c.cost is not None), Decimal(0))
    assert session.spent_tokens <= session.budget_tokens
    assert after == [200, 200]  # the first request after a termination is answered
