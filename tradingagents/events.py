"""Publishing live events to websocket subscribers (DESIGN.md §3 "Websocket")."""

from __future__ import annotations

from typing import Any

TOPICS = ("agents", "tasks", "providers", "llm_configs", "runs")


def publish(topic: str, event: str, obj_id: int | str, data: dict[str, Any]) -> None:
    """Publish `event` about object `obj_id` on `topic` after the current transaction
    commits. Never waits for subscribers. `data` must not hold secrets."""
    # Filled in by the live events issue.
    return None
