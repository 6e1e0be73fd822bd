"""Task output schemas: validation (and, with the schema issue, compilation).

Placeholder interface; the schema issue replaces the body with the full rule set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class SchemaError:
    path: str  # JSON pointer, e.g. /properties/confidence/maximum
    msg: str


def schema_errors(schema: Any) -> list[SchemaError]:
    if not isinstance(schema, dict):
        return [SchemaError("", "The schema must be a JSON object.")]
    if schema.get("type") != "object":
        return [SchemaError("/type", "The root of the schema must have type 'object'.")]
    return []


def validate_schema(schema: Any, *, field: str = "response_schema") -> None:
    errors = schema_errors(schema)
    if errors:
        raise ValidationError({field: [f"{e.path or '/'}: {e.msg}" for e in errors]})
