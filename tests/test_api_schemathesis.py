"""Property-based fuzzing of the whole API from its live OpenAPI document, authenticated
as a superuser: no 5xx, and every response matches its documented status, content type
and schema. Examples are bounded so the run stays well under two minutes."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tradingagents.services import api_token_create

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def bearer(db, django_user_model, offline_provider, agent, task, assignment, offline_config) -> dict[str, str]:
    user = django_user_model.objects.create_superuser("fuzzer", "fuzzer@example.com", None)
    _, token = api_token_create(user=user, name="schemathesis")
    return {"Authorization": f"Bearer {token}"}


def _live_schema():
    # Fetching the document touches no table, so it can happen at collection time.
    from tradingagents.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


schema = _live_schema()


@pytest.fixture
def connection_kept_open():
    """Django's WSGI handler closes the database connection around each request; inside
    a test's transaction that would end the test's view of the data (Django's own test
    client disconnects these receivers the same way)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_api_conforms_to_its_openapi_document(case, bearer, connection_kept_open):
    case.call_and_validate(headers=bearer, checks=CHECKS)
