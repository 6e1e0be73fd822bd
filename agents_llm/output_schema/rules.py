"""What a task output schema may contain: the subset of JSON Schema that LLM structured
output supports (dialects, types, formats, keywords) and the limits on a schema's size.

Also SchemaError, the problem every check reports (a JSON pointer and a plain-words
message), and the helpers for pointers and JSON values that the other modules share.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import jsonschema

# Limits --------------------------------------------------------------------------------

MAX_SCHEMA_CHARS = 100_000  # serialized JSON
MAX_DEPTH = 40  # nesting of JSON objects/arrays; a field nested in an object costs 2 levels
MAX_ERRORS = 50
MAX_PATTERN_CHARS = 1_000
# Fields and keywords once every $ref is written out (what the model is shown): a few
# definitions that each use the next twice would otherwise expand to billions.
MAX_EXPANDED_NODES = 20_000
# The smallest answer a schema allows, in characters of JSON: about 50,000 tokens,
# more than the output limit of most models.
MAX_ANSWER_CHARS = 200_000

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
DIALECTS: dict[str, type[jsonschema.protocols.Validator]] = {
    DRAFT_2020_12: jsonschema.Draft202012Validator,
    DRAFT_2020_12 + "#": jsonschema.Draft202012Validator,
    DRAFT_07: jsonschema.Draft7Validator,
    DRAFT_07.rstrip("#"): jsonschema.Draft7Validator,
    DRAFT_07.replace("http:", "https:"): jsonschema.Draft7Validator,
    DRAFT_07.replace("http:", "https:").rstrip("#"): jsonschema.Draft7Validator,
}

TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")
FORMATS = ("date", "date-time", "time", "email", "uri", "uuid", "ipv4", "ipv6")

# Keywords that only make sense for one JSON type.
TYPED_KEYWORDS: dict[str, tuple[str, ...]] = {
    "string": ("minLength", "maxLength", "pattern", "format"),
    "number": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
    "array": ("items", "minItems", "maxItems"),
    "object": ("properties", "required", "additionalProperties"),
}
KEYWORD_TYPE = {kw: t for t, kws in TYPED_KEYWORDS.items() for kw in kws}
GENERIC_KEYWORDS = ("type", "enum", "const", "description", "title", "default", "anyOf", "$ref")
SUPPORTED_KEYWORDS = frozenset((*GENERIC_KEYWORDS, *KEYWORD_TYPE, "$defs"))
REF_SIBLINGS = frozenset(("$ref", "description", "title", "default"))


@dataclass(frozen=True)
class SchemaError:
    path: str  # JSON pointer, e.g. /properties/confidence/maximum ("" is the whole document)
    msg: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.msg}"


def schema_hash(schema: Any) -> str:
    """sha256 of the canonical JSON of `schema` (key order does not matter)."""
    return hashlib.sha256(canonical(schema).encode()).hexdigest()


def canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# JSON pointers and values --------------------------------------------------------------


def pointer(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def matches_type(value: Any, types: list[str]) -> bool:
    kind = json_type(value)
    return kind in types or (kind == "integer" and "number" in types)


def short_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def enum_kind(value: Any) -> str:
    kind = json_type(value)
    return "number" if kind == "integer" else kind
