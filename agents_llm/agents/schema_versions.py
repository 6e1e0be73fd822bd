"""Reading a task's schema history: the line diff the admin shows between two versions."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed", "hunk"
    text: str


def schema_text(schema: Any) -> str:
    # Sorted keys, so a diff shows what changed and not how a database ordered the keys.
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False)


def schema_diff(old: Any, new: Any, *, context: int = 3) -> list[DiffLine]:
    """Unified diff of two schemas' pretty JSON; [] when they are equal."""
    lines = difflib.unified_diff(
        schema_text(old).splitlines(), schema_text(new).splitlines(), n=context, lineterm=""
    )
    out: list[DiffLine] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            out.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            out.append(DiffLine("added", line[1:]))
        elif line.startswith("-"):
            out.append(DiffLine("removed", line[1:]))
        else:
            out.append(DiffLine("same", line[1:]))
    return out
