"""Checking a provider's credentials with the cheapest call that proves them.

The probe is the vendor's list-models endpoint where it has one (free, and it tells
us which models the key may use); OpenRouter's key endpoint; and for an
OpenAI-compatible server without a model list, a one-token chat completion. Nothing
here ever spends more than that one request per attempt.

Outcomes are stored on the row (`validation_status`, `validation_error` in plain
words, `validated_at`, `available_models`) and published as `validation` events.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from providers import crypto
from providers.catalog import ProviderType, type_info
from providers.models import LLMProvider, ValidationStatus
from providers.selectors import resolve_api_key
from providers.signals import provider_event_data
from tradingagents.events import publish

logger = logging.getLogger(__name__)

# How long one probe may take. A list-models call answers in well under a second.
PROBE_TIMEOUT_SECONDS = float(getattr(settings, "PROVIDER_VALIDATION_TIMEOUT_SECONDS", 10.0))
# Attempts for transient failures (timeouts, refused connections, 429, 5xx).
MAX_ATTEMPTS = 4

_OPENAI_PROTOCOL = {
    ProviderType.OPENAI, ProviderType.DEEPSEEK, ProviderType.XAI, ProviderType.GROQ,
    ProviderType.MISTRAL, ProviderType.OLLAMA, ProviderType.OPENAI_COMPATIBLE,
}
# Servers that may speak the chat protocol without listing models.
_ONE_TOKEN_FALLBACK = {ProviderType.OLLAMA, ProviderType.OPENAI_COMPATIBLE}


class Outcome(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    TRANSIENT = "transient"  # worth another attempt later
    UNREACHABLE = "unreachable"  # still transient after the last attempt: the key is not known to be wrong


@dataclass
class ProbeResult:
    outcome: Outcome
    message: str = ""
    models: list[str] = field(default_factory=list)


_client: httpx.Client | None = None


def _http() -> httpx.Client:
    # One client per process: connection reuse across validations.
    global _client
    if _client is None:
        _client = httpx.Client(follow_redirects=False, headers={"user-agent": "tradingagents-validator"})
    return _client


def _host(base_url: str) -> str:
    parts = urlsplit(base_url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else base_url


def _auth_headers(provider_type: str, api_key: str | None) -> dict[str, str]:
    if not api_key:
        return {}
    if provider_type == ProviderType.ANTHROPIC:
        return {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    if provider_type == ProviderType.GOOGLE:
        return {"x-goog-api-key": api_key}
    return {"authorization": f"Bearer {api_key}"}


def _status_result(response: httpx.Response, host: str, what: str) -> ProbeResult | None:
    """The outcome a non-2xx answer decides, or None for a 2xx."""
    code = response.status_code
    if code < 300:
        return None
    reason = f"HTTP {code} {response.reason_phrase}".strip()
    if code in (401, 403):
        # The body is not quoted: vendors echo parts of the key in it.
        return ProbeResult(Outcome.INVALID, f"{host} refused the API key ({reason}). Enter a valid key.")
    if code == 429:
        return ProbeResult(Outcome.TRANSIENT, f"{host} is rate limiting requests ({reason}).")
    if code >= 500:
        return ProbeResult(Outcome.TRANSIENT, f"{host} had a server error ({reason}).")
    return ProbeResult(Outcome.INVALID, f"{host} answered {reason} to {what}; check the base URL.")


def _model_names(provider_type: str, body: Any) -> list[str]:
    if provider_type == ProviderType.GOOGLE:
        items = body.get("models", [])
        names = [str(m.get("name", "")).removeprefix("models/") for m in items]
    else:
        names = [str(m.get("id", "")) for m in body.get("data", [])]
    return sorted({n for n in names if n})


def probe(provider_type: str, base_url: str, api_key: str | None, timeout: float | None = None) -> ProbeResult:
    """One request that proves (or disproves) the credentials."""
    info = type_info(provider_type)
    base = (base_url or info.default_base_url).rstrip("/")
    host = _host(base)
    headers = _auth_headers(provider_type, api_key)
    timeout = PROBE_TIMEOUT_SECONDS if timeout is None else timeout

    if provider_type == ProviderType.ANTHROPIC:
        method, url, params, what = "GET", f"{base}/v1/models", {"limit": 1000}, "GET /v1/models"
    elif provider_type == ProviderType.GOOGLE:
        method, url, params, what = "GET", f"{base}/v1beta/models", {"pageSize": 1000}, "GET /v1beta/models"
    elif provider_type == ProviderType.OPENROUTER:
        # OpenRouter lists models without a key; its key endpoint is what proves one.
        method, url, params, what = "GET", f"{base}/key", {}, "GET /key"
    else:
        method, url, params, what = "GET", f"{base}/models", {}, "GET /models"

    try:
        response = _http().request(method, url, params=params, headers=headers, timeout=timeout)
        if response.status_code in (404, 405) and provider_type in _ONE_TOKEN_FALLBACK:
            return _one_token(provider_type, base, host, headers, timeout)
        decided = _status_result(response, host, what)
        if decided is not None:
            return decided
        if provider_type == ProviderType.OPENROUTER:
            return ProbeResult(Outcome.VALID)
        try:
            models = _model_names(provider_type, response.json())
        except (ValueError, AttributeError, TypeError):
            return ProbeResult(
                Outcome.INVALID, f"{host} answered {what}, but not with a model list; check the base URL."
            )
        return ProbeResult(Outcome.VALID, models=models)
    except httpx.TimeoutException:
        return ProbeResult(Outcome.TRANSIENT, f"No answer from {host} within {timeout:g} s.")
    except httpx.TransportError as exc:
        return ProbeResult(Outcome.TRANSIENT, f"Could not connect to {host} ({type(exc).__name__}).")
    except httpx.HTTPError as exc:
        return ProbeResult(Outcome.INVALID, f"The request to {host} failed ({type(exc).__name__}).")


def _one_token(provider_type: str, base: str, host: str, headers: dict[str, str], timeout: float) -> ProbeResult:
    body = {
        "model": type_info(provider_type).quick_model or "default",
        "messages": [{"role": "user", "content": "ping"}],
        "max_tokens": 1,
    }
    response = _http().post(f"{base}/chat/completions", json=body, headers=headers, timeout=timeout)
    code = response.status_code
    if code in (401, 403, 429) or code >= 500:
        return _status_result(response, host, "POST /chat/completions")  # type: ignore[return-value]
    # Any other answer means the server got past authentication: the key is accepted.
    return ProbeResult(Outcome.VALID)


def _credentials_unchanged(provider: LLMProvider) -> Q:
    # Results only apply to the credentials they were obtained with: a save in the
    # meantime reset the row to `pending` and queued a check of its own.
    return Q(
        pk=provider.pk,
        provider_type=provider.provider_type,
        base_url=provider.base_url,
        key_version=provider.key_version,
    )


def _store(provider: LLMProvider, **values: Any) -> bool:
    # update(), not save(): a check is not a configuration change (no history row,
    # no `updated` event); updated_at tells the sweep when the row last moved.
    values["updated_at"] = timezone.now()
    updated = LLMProvider.objects.filter(_credentials_unchanged(provider)).update(**values)
    if not updated:
        return False
    for name, value in values.items():
        setattr(provider, name, value)
    publish("providers", "validation", provider.pk, provider_event_data(provider))
    return True


def provider_validate(*, provider_id: int, attempt: int = 1, max_attempts: int = MAX_ATTEMPTS) -> Outcome | None:
    """Check one provider's credentials and store the outcome on it.

    Returns the outcome; TRANSIENT means "try again later" (only returned while
    `attempt < max_attempts`; the last attempt turns it into UNREACHABLE with the
    reason: a vendor that is down is told apart from a key it refused, INVALID).
    Returns None when the provider is gone or its credentials changed meanwhile.
    """
    provider = LLMProvider.objects.filter(pk=provider_id).first()
    if provider is None:
        return None
    if provider.is_offline:
        _store(provider, validation_status=ValidationStatus.VALID, validation_error="", validated_at=timezone.now())
        return Outcome.VALID
    if not _store(provider, validation_status=ValidationStatus.VALIDATING):
        return None

    try:
        api_key = resolve_api_key(provider)
    except crypto.UndecryptableSecret as exc:
        _store(
            provider, validation_status=ValidationStatus.UNDECRYPTABLE,
            validation_error=str(exc), validated_at=timezone.now(), available_models=[],
        )
        return Outcome.INVALID
    info = type_info(provider.provider_type)
    if info.needs_key and not api_key:
        _store(
            provider, validation_status=ValidationStatus.INVALID,
            validation_error=f"No API key: enter one here or set {info.env_var} in the environment.",
            validated_at=timezone.now(), available_models=[],
        )
        return Outcome.INVALID

    result = probe(provider.provider_type, provider.base_url, api_key)
    if result.outcome is Outcome.TRANSIENT and attempt < max_attempts:
        stored = _store(provider, validation_error=f"Attempt {attempt} of {max_attempts}: {result.message} Retrying.")
        return Outcome.TRANSIENT if stored else None
    if result.outcome is Outcome.VALID:
        stored = _store(
            provider, validation_status=ValidationStatus.VALID, validation_error="",
            validated_at=timezone.now(), available_models=result.models,
        )
        return Outcome.VALID if stored else None
    message, status, outcome = result.message, ValidationStatus.INVALID, Outcome.INVALID
    if result.outcome is Outcome.TRANSIENT:
        message = f"{message} Gave up after {max_attempts} attempt{'s' if max_attempts > 1 else ''}."
        status, outcome = ValidationStatus.UNREACHABLE, Outcome.UNREACHABLE
    stored = _store(
        provider, validation_status=status, validation_error=message, validated_at=timezone.now(), available_models=[],
    )
    return outcome if stored else None


def providers_due(*, now: datetime | None = None, stale_pending_seconds: int = 60) -> list[int]:
    """Ids the sweep should (re)check: every provider not checked within
    PROVIDER_REVALIDATE_MINUTES, plus `pending`/`validating` ones left untouched for
    `stale_pending_seconds` (a lost message or a worker that died mid-check)."""
    now = now or timezone.now()
    revalidate_before = now - timedelta(minutes=settings.PROVIDER_REVALIDATE_MINUTES)
    stuck_before = now - timedelta(seconds=stale_pending_seconds)
    in_progress = (ValidationStatus.PENDING, ValidationStatus.VALIDATING)
    due = LLMProvider.objects.filter(
        Q(validation_status__in=in_progress, updated_at__lte=stuck_before)
        | (
            ~Q(validation_status__in=in_progress)
            & (Q(validated_at__isnull=True) | Q(validated_at__lte=revalidate_before))
        )
    )
    return list(due.order_by("pk").values_list("pk", flat=True))


def providers_sweep(*, ids: list[int] | None = None, stale_pending_seconds: int = 60) -> dict[str, int]:
    """Queue a check of every provider that is due (or of `ids`). A provider whose
    message could not be sent stays as it is and is due again on the next sweep."""
    from providers.tasks import validate_provider

    counts = {"queued": 0, "failed": 0}
    due = providers_due(stale_pending_seconds=stale_pending_seconds) if ids is None else ids
    for provider_id in due:
        try:
            validate_provider.send(provider_id)
        except Exception as exc:  # broker down: the next sweep tries again
            counts["failed"] += 1
            logger.warning("could not queue validation of provider %s (%s)", provider_id, type(exc).__name__)
            continue
        counts["queued"] += 1
        # Not due again as a stale `pending` until the queued check had its chance.
        LLMProvider.objects.filter(pk=provider_id).update(updated_at=timezone.now())
    return counts
