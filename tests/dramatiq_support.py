"""A StubBroker with a worker, swapped in for the project's broker (also when the
suite runs with REDIS_URL set), for tests of actors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq
from django_dramatiq.middleware import DbConnectionsMiddleware
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import default_middleware

from agents_llm.runs.actors import execute_run
from providers.tasks import validate_provider

ACTORS = (validate_provider, execute_run)


@contextmanager
def swapped_broker(broker: dramatiq.Broker) -> Iterator[dramatiq.Broker]:
    previous = dramatiq.get_broker()
    previous_brokers = {actor: actor.broker for actor in ACTORS}
    dramatiq.set_broker(broker)
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    try:
        yield broker
    finally:
        for actor, old in previous_brokers.items():
            actor.broker = old
        dramatiq.set_broker(previous)


@contextmanager
def stub_worker() -> Iterator[StubBroker]:
    broker = StubBroker(middleware=[m() for m in default_middleware] + [DbConnectionsMiddleware()])
    broker.emit_after("process_boot")
    with swapped_broker(broker):
        worker = dramatiq.Worker(broker, worker_timeout=20, worker_threads=1)
        worker.start()
        try:
            yield broker
        finally:
            worker.stop()
            broker.close()
