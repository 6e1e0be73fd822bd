"""Dramatiq actors for providers. Thin: load the row, call the service."""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.common import compute_backoff

from providers.validation import MAX_ATTEMPTS, Outcome, provider_validate

logger = logging.getLogger(__name__)

# Backoff between attempts after a transient failure: 2 s, 4 s, 8 s (with jitter).
RETRY_MIN_BACKOFF_MS = 2_000
RETRY_MAX_BACKOFF_MS = 60_000


# Retries are scheduled by the actor itself, and only for transient failures (the
# service says which): an auth failure is final at once, and a bug is not retried
# blindly — the sweep looks at rows left `validating` instead.
@dramatiq.actor(max_retries=0, time_limit=120_000)
def validate_provider(provider_id: int, attempt: int = 1) -> None:
    outcome = provider_validate(provider_id=provider_id, attempt=attempt, max_attempts=MAX_ATTEMPTS)
    if outcome is not Outcome.TRANSIENT:
        return
    _, delay = compute_backoff(attempt - 1, factor=RETRY_MIN_BACKOFF_MS, max_backoff=RETRY_MAX_BACKOFF_MS)
    try:
        validate_provider.send_with_options(args=(provider_id,), kwargs={"attempt": attempt + 1}, delay=delay)
    except Exception as exc:  # broker gone meanwhile: the sweep picks the row up
        logger.warning("could not schedule attempt %s for provider %s (%s)", attempt + 1, provider_id, type(exc).__name__)
