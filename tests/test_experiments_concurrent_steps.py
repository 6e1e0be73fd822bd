"""Scheduling steps of one experiment taken at the same moment by several workers take
turns (the step's first statement writes the experiment's row): together they start no
more cells than its concurrency, and no cell twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from agents_llm.experiments.services import experiment_advance, experiment_create
from tests.experiments_support import DAY, cells_of, installed, lineups  # noqa: F401
from tests.gateway_support import caller  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_steps_taken_at_once_by_many_workers_start_no_more_cells_than_the_concurrency(
    installed, lineups, caller,  # noqa: F811
):
    experiment = experiment_create(name="race", tickers=["NVDA", "AAPL", "MSFT"],
                                   trade_dates=[DAY - timedelta(days=i) for i in range(4)],
                                   arms=[("a", "all-quick"), ("b", "tradingagents-default")], user=caller,
                                   gateway_url="http://testserver", concurrency=3)
    for round_ in range(3):
        # The running cells end at once (written as a worker writes them, no step yet).
        active = cells_of(experiment.pk).filter(status__in=["queued", "running"])
        assert active.count() == 3, round_
        active.update(status="succeeded", rating="Hold")
        barrier = threading.Barrier(6)
        errors: list[BaseException] = []

        def step(barrier: threading.Barrier = barrier, errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait(timeout=30)
                experiment_advance(experiment.pk)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=step) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert not errors, errors
        statuses = list(cells_of(experiment.pk).values_list("status", flat=True))
        assert statuses.count("queued") == 3, statuses
        # In order: the three after the ones that ended.
        assert statuses == ["succeeded"] * 3 * (round_ + 1) + ["queued"] * 3 + ["waiting"] * (18 - 3 * round_)
