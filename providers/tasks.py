"""Dramatiq actors for providers. Thin: load the row, call the service."""

from __future__ import annotations

import dramatiq


@dramatiq.actor(max_retries=0)
def validate_provider(provider_id: int) -> None:
    # Filled in by the background validation issue.
    return None
