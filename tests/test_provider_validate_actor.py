"""The validation actor on a StubBroker worker, against a loopback fake vendor."""

from __future__ import annotations

import pytest

from providers import crypto, tasks, validation
from providers.models import LLMProvider, ValidationStatus
from providers.services import provider_create, provider_update
from tests.conftest import CANARY_KEY
from tests.dramatiq_support import stub_worker
from tests.fake_vendor import MODELS, FakeVendor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker():
    with stub_worker() as broker:
        yield broker


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(tasks, "RETRY_MIN_BACKOFF_MS", 10)
    # Long enough for a loaded CI machine to answer: a slow answer read as a timeout is
    # retried, and the test sees one request more than the vendor was scripted for.
    monkeypatch.setattr(validation, "PROBE_TIMEOUT_SECONDS", 2.0)


@pytest.fixture
def vendor():
    with FakeVendor() as vendor:
        yield vendor


def create(broker, vendor: FakeVendor, provider_type: str = "openai", path: str = "/v1") -> LLMProvider:
    """Create a provider (its save queues the check after commit) and let the worker run."""
    provider = provider_create(
        name=f"{provider_type}-fake", provider_type=provider_type, base_url=vendor.url + path, api_key=CANARY_KEY
    )
    assert provider.validation_status == ValidationStatus.PENDING
    broker.join(tasks.validate_provider.queue_name)
    return LLMProvider.objects.get(pk=provider.pk)


def validate_again(broker, provider: LLMProvider) -> LLMProvider:
    tasks.validate_provider.send(provider.pk)
    broker.join(tasks.validate_provider.queue_name)
    return LLMProvider.objects.get(pk=provider.pk)


def test_a_key_the_vendor_accepts_is_valid_and_its_model_names_are_stored(broker, vendor):
    provider = create(broker, vendor)

    assert provider.validation_status == ValidationStatus.VALID
    assert provider.validation_error == ""
    assert provider.validated_at is not None
    assert provider.available_models == sorted(MODELS)
    assert [(r.method, r.path) for r in vendor.requests] == [("GET", "/v1/models")]
    assert vendor.requests[0].headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_a_401_is_invalid_at_once_without_a_retry(broker, vendor):
    vendor.script = [401, 200]
    provider = create(broker, vendor)

    assert provider.validation_status == ValidationStatus.INVALID
    assert "refused the API key" in provider.validation_error
    assert "401" in provider.validation_error
    assert provider.available_models == []
    assert len(vendor.requests) == 1


def test_a_500_is_retried_then_valid(broker, vendor):
    vendor.script = [500, 503, 200]
    provider = create(broker, vendor)

    assert provider.validation_status == ValidationStatus.VALID
    assert provider.available_models == sorted(MODELS)
    assert len(vendor.requests) == 3


def test_timeouts_on_every_attempt_end_unreachable_with_the_reason(broker, vendor, monkeypatch):
    monkeypatch.setattr(validation, "PROBE_TIMEOUT_SECONDS", 0.3)
    vendor.script = ["hang"]
    vendor.hang_seconds = 1.0
    provider = create(broker, vendor)

    assert provider.validation_status == ValidationStatus.UNREACHABLE
    assert "No answer from 127.0.0.1" in provider.validation_error
    assert f"Gave up after {validation.MAX_ATTEMPTS} attempts" in provider.validation_error
    assert len(vendor.requests) == validation.MAX_ATTEMPTS


def test_a_key_no_configured_encryption_key_can_decrypt_is_undecryptable(broker, vendor):
    provider = create(broker, vendor)
    foreign = crypto.Fernet(crypto.Fernet.generate_key()).encrypt(b"sk-other").decode()
    LLMProvider.objects.filter(pk=provider.pk).update(api_key_encrypted=foreign)
    vendor.requests.clear()

    provider = validate_again(broker, provider)

    assert provider.validation_status == ValidationStatus.UNDECRYPTABLE
    assert "cannot be decrypted" in provider.validation_error
    assert vendor.requests == []


def test_the_error_never_quotes_the_key_even_when_the_vendor_echoes_it(broker, vendor):
    vendor.script = [401]
    provider = create(broker, vendor)

    assert CANARY_KEY not in provider.validation_error
    assert CANARY_KEY[:-4] not in provider.validation_error


@pytest.mark.parametrize(
    ("provider_type", "path", "expected_path", "header"),
    [
        ("anthropic", "", "/v1/models", "x-api-key"),
        ("google", "", "/v1beta/models", "x-goog-api-key"),
        ("openrouter", "/api/v1", "/api/v1/key", "authorization"),
        ("mistral", "/v1", "/v1/models", "authorization"),
    ],
)
def test_each_vendor_is_probed_on_its_own_free_endpoint(broker, vendor, provider_type, path, expected_path, header):
    provider = create(broker, vendor, provider_type, path)

    assert provider.validation_status == ValidationStatus.VALID
    assert [r.path.split("?")[0] for r in vendor.requests] == [expected_path]
    assert CANARY_KEY in vendor.requests[0].headers[header]
    if provider_type != "openrouter":
        assert provider.available_models == sorted(MODELS)


def test_a_compatible_server_without_a_model_list_gets_a_one_token_request(broker, vendor):
    vendor.script = [404, 200]
    provider = create(broker, vendor, "openai_compatible", "/v1")

    assert provider.validation_status == ValidationStatus.VALID
    assert [(r.method, r.path) for r in vendor.requests] == [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]
    assert vendor.requests[1].body["max_tokens"] == 1


def test_the_offline_provider_is_valid_without_any_request(broker, vendor):
    provider = provider_create(name="offline", provider_type="offline")
    provider = validate_again(broker, provider)

    assert provider.validation_status == ValidationStatus.VALID
    assert provider.validated_at is not None
    assert vendor.requests == []


def test_a_result_for_credentials_changed_meanwhile_is_dropped(vendor, monkeypatch):
    provider = provider_create(name="openai-fake", provider_type="openai", base_url=vendor.url, api_key=CANARY_KEY)
    real_probe = validation.probe

    def probe_while_someone_saves_a_new_key(*args, **kwargs):
        result = real_probe(*args, **kwargs)
        fresh = LLMProvider.objects.get(pk=provider.pk)
        provider_update(provider=fresh, data={}, api_key="sk-a-newer-key-1234")
        return result

    monkeypatch.setattr(validation, "probe", probe_while_someone_saves_a_new_key)

    outcome = validation.provider_validate(provider_id=provider.pk)

    assert outcome is None
    stored = LLMProvider.objects.get(pk=provider.pk)
    assert stored.validation_status == ValidationStatus.PENDING
    assert stored.available_models == []
