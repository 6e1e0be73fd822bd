"""The small named world every test can use (DESIGN.md §4)."""

from __future__ import annotations

import os
import tempfile

import pytest
from django.contrib.auth.models import Permission, User
from pydantic_ai import models as pydantic_ai_models

# No test may reach a real LLM vendor.
pydantic_ai_models.ALLOW_MODEL_REQUESTS = False

# A key that must never show up anywhere but encrypted at rest.
CANARY_KEY = "sk-canary-7f3a9c1e5b2d4f60a8e1c3b5d7f9ZQXW"
CANARY_LAST4 = "ZQXW"

APP_LABELS = ("providers", "agents_llm", "tradingagents")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """On SQLite, a test database in a file rather than in memory, so that the real
    servers an end-to-end test starts (uvicorn) can open the database the test wrote."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = os.path.join(tempfile.gettempdir(), f"tradingagents-test-{os.getpid()}.sqlite3")
        db.setdefault("TEST", {})["NAME"] = name


@pytest.fixture(autouse=True)
def schema_validate_unthrottled(monkeypatch):
    """Tests call POST schemas/validate far faster than people do, and user ids repeat
    from test to test; tests/test_schema_validate_throttle.py restores the limit."""
    from agents_llm.agents.api_schemas import validate_throttle

    monkeypatch.setattr(validate_throttle, "num_requests", 10**9)


@pytest.fixture(scope="session", autouse=True)
def versions_of_this_test_run(tmp_path_factory):
    """The version files (tradingagents.versions) of this test run, shared with the
    servers it starts and no other run on the machine (a bump of another run's would
    only cost rebuilds, but tests count them)."""
    from django.conf import settings

    folder = str(tmp_path_factory.mktemp("versions"))
    os.environ["VERSIONS_DIR"] = folder
    settings.VERSIONS_DIR = folder
    yield


@pytest.fixture(autouse=True)
def database_work_in_the_tests_thread(settings):
    """A test's transaction lives in its own thread: async code under test does its
    database work there (Django's sync_to_async), as DATABASE_THREADS=0 says. Servers
    an end-to-end test starts keep their own database threads."""
    settings.DATABASE_THREADS = 0


@pytest.fixture(autouse=True)
def caches_start_empty():
    """What a process keeps while its version is current (chains, run targets, tokens)
    is per process, and ids repeat from test to test: each test starts with none."""
    from agents_llm.agents import chain
    from agents_llm.runs.registry import registry
    from tradingagents import auth

    chain.clear()
    registry.clear()
    auth.clear()


@pytest.fixture
def canary_key() -> str:
    return CANARY_KEY


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", "root@example.com", "root-pass-123")


@pytest.fixture
def editor(db) -> User:
    """Staff with every model permission of our apps (add, change, delete, view)."""
    user = User.objects.create_user("editor", "editor@example.com", "editor-pass-123", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=APP_LABELS))
    return user


@pytest.fixture
def reader(db) -> User:
    """Active staff user with view permissions only."""
    user = User.objects.create_user("reader", "reader@example.com", "reader-pass-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=APP_LABELS, codename__startswith="view_")
    )
    return user


@pytest.fixture
def outsider(db) -> User:
    """A deactivated account: it may not read anything."""
    return User.objects.create_user("outsider", "outsider@example.com", "outsider-pass-123", is_active=False)


@pytest.fixture
def offline_provider(db):
    from providers.services import provider_create

    return provider_create(name="offline", provider_type="offline")


@pytest.fixture
def openai_provider(db):
    from providers.services import provider_create

    return provider_create(name="openai-main", provider_type="openai", api_key="sk-test-openai-key-0001")


@pytest.fixture
def simple_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "signal": {"type": "string", "enum": ["buy", "hold", "sell"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["signal", "confidence"],
        "additionalProperties": False,
    }


@pytest.fixture
def agent(db):
    from agents_llm.agents.services import agent_create

    return agent_create(name="trader", display_name="Trader", role="trader", instructions="You trade.")


@pytest.fixture
def task(db, simple_schema):
    from agents_llm.agents.services import task_create

    return task_create(
        name="trade-signal",
        description="Give a trade signal.",
        prompt_template="Give a signal for {ticker}.",
        response_schema=simple_schema,
    )


@pytest.fixture
def offline_config(agent, offline_provider):
    from agents_llm.agents.services import llm_config_create

    return llm_config_create(agent=agent, provider=offline_provider, model_name="offline")


@pytest.fixture
def assignment(agent, task):
    from agents_llm.agents.services import assignment_create

    return assignment_create(agent=agent, task=task)
