"""Task output schemas: validation before save, and compilation into a PydanticAI output type.

Validation (`schema_errors`, `validate_schema`) accepts a JSON Schema (draft-07 or 2020-12,
2020-12 when `$schema` is absent) inside the subset that LLM structured output supports, and
reports every problem with its JSON pointer and a plain-words message.

Compilation (`compile_output_type`) turns a valid schema into a `CompiledOutput`:

    compiled = compile_output_type(task.response_schema)
    agent = Agent(model, output_type=compiled.output_type)  # tool schema = compiled.json_schema
    compiled.validate(data)   # -> list[SchemaError], [] when valid
    compiled.example(seed=0)  # a schema-valid instance, e.g. TestModel(custom_output_args=...)

`output_type` validates what the model returns strictly against the stored schema with
`jsonschema` (formats included); an invalid answer raises a pydantic ValidationError whose
message lists every error with its path, which PydanticAI sends back to the model as a retry.
Compiled outputs are cached by content hash in a bounded LRU
(`settings.OUTPUT_SCHEMA_CACHE_SIZE`), so a schema is compiled once per process.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import ipaddress
import json
import marshal
import math
import random
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import re2
import rstr
from django.conf import settings
from django.core.exceptions import ValidationError
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

__all__ = [
    "CompiledOutput", "OutputSchemaError", "OutputValidationTimeout", "SchemaError", "clear_compile_cache",
    "compile_output_type", "deadline", "schema_errors", "schema_hash", "validate_schema",
]

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
_DIALECTS: dict[str, type[jsonschema.protocols.Validator]] = {
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


# Validation of a schema ----------------------------------------------------------------


def schema_errors(schema: Any, *, meta: bool = False, _size: int | None = None) -> list[SchemaError]:
    """Every problem with `schema` as a task output schema; [] when it is fine. Linear
    in the schema's size: a 3,500-field schema is checked in milliseconds.

    `meta=True` also checks against the dialect's meta-schema. The subset rules are
    stricter than it (tests/test_schema_validate_linear.py keeps them so), and it costs
    about a second for a 3,500-field schema under 2020-12, so it is off by default.
    """
    if not isinstance(schema, dict):
        return [SchemaError("", "The schema must be a JSON object.")]
    limit = _limit_error(schema, _size)
    if limit is not None:
        return [limit]
    checker = _SchemaChecker(schema)
    errors = checker.run()
    if not errors and meta:
        # A safety net for anything the subset rules above do not look at.
        errors.extend(_meta_errors(schema, checker.validator_class))
    return errors[:MAX_ERRORS]


def validate_schema(schema: Any, *, field: str = "response_schema") -> None:
    """Raise a django ValidationError listing every problem, keyed by `field`."""
    errors = schema_errors(schema)
    if errors:
        raise ValidationError({field: [str(e) for e in errors]})


def schema_hash(schema: Any) -> str:
    """sha256 of the canonical JSON of `schema` (key order does not matter)."""
    return hashlib.sha256(_canonical(schema).encode()).hexdigest()


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _limit_error(schema: Any, size: int | None = None) -> SchemaError | None:
    # Iterative, so a hostile nesting depth cannot exhaust the stack.
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return SchemaError("", f"The schema is nested too deeply (more than {MAX_DEPTH} levels).")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    if size is None:
        try:
            size = len(_canonical(schema))
        except (TypeError, ValueError):
            return SchemaError("", "The schema must contain only JSON values (no NaN or infinity).")
    if size > MAX_SCHEMA_CHARS:
        return SchemaError("", f"The schema is too large ({size} characters; the limit is {MAX_SCHEMA_CHARS}).")
    return None


def _ptr(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
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


def _matches_type(value: Any, types: list[str]) -> bool:
    kind = json_type(value)
    return kind in types or (kind == "integer" and "number" in types)


def _fmt(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


Path = tuple[str | int, ...]  # JSON pointer parts; joined only when an error is reported


class _SchemaChecker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.errors: list[SchemaError] = []
        self.validator_class: type[jsonschema.protocols.Validator] = jsonschema.Draft202012Validator

    def add(self, path: Path, msg: str) -> None:
        self.errors.append(SchemaError(_ptr(*path), msg))

    def run(self) -> list[SchemaError]:
        root = self.root
        dialect = root.get("$schema")
        if dialect is not None:
            if isinstance(dialect, str) and dialect in _DIALECTS:
                self.validator_class = _DIALECTS[dialect]
            else:
                self.add(("$schema",), f"Unknown $schema {_fmt(dialect)}; use {DRAFT_2020_12} or {DRAFT_07}.")
        if root.get("type") != "object":
            if "type" not in root:
                self.add(("type",), "The root of the schema must have type 'object'; it has no type.")
            else:
                self.add(("type",), f"The root of the schema must have type 'object', not {_fmt(root['type'])}.")
        defs = root.get("$defs", {})
        if not isinstance(defs, dict):
            self.add(("$defs",), "$defs must be an object mapping names to schemas.")
            defs = {}
        self.defs = defs
        for name, sub in defs.items():
            self.node(sub, ("$defs", name))
        self.node({k: v for k, v in root.items() if k not in ("$schema", "$defs")}, ())
        self.check_ref_cycles()
        if not self.errors:
            self.check_answer_size()
        return self.errors

    def node(self, schema: Any, path: Path) -> None:  # noqa: C901 - one rule per keyword
        if not isinstance(schema, dict):
            self.add(path, f"A field's schema must be a JSON object, not {_fmt(schema)}.")
            return
        for key in schema:
            if key == "$defs" and path:
                self.add(_ptr_join(path, key), "$defs is only allowed at the root of the schema.")
            elif key not in SUPPORTED_KEYWORDS:
                self.add(_ptr_join(path, key), f"'{key}' is not supported in output schemas.")
        types = self.types(schema, path)
        if "$ref" in schema:
            self.ref(schema, path)
        if path and "type" not in schema and not any(k in schema for k in ("enum", "const", "$ref", "anyOf")):
            self.add((*path, "type"), "This field has no type; choose one.")
        for key in ("description", "title"):
            if key in schema and not isinstance(schema[key], str):
                self.add(_ptr_join(path, key), f"{key} must be text.")
        if types is not None:
            for key in schema:
                need = KEYWORD_TYPE.get(key)
                if need is None:
                    continue
                if need not in types and not (need == "number" and "integer" in types):
                    self.add(
                        _ptr_join(path, key),
                        f"'{key}' applies to {need} fields, but this field is {' or '.join(types)}.",
                    )
        self.enum(schema, path, types)
        if "const" in schema and types is not None and not _matches_type(schema["const"], types):
            self.add(_ptr_join(path, "const"), f"const {_fmt(schema['const'])} is not of type {' or '.join(types)}.")
        self.numeric(schema, path, types)
        self.string(schema, path)
        self.array(schema, path)
        self.object(schema, path)
        if "anyOf" in schema:
            options = schema["anyOf"]
            if not isinstance(options, list) or not options:
                self.add(_ptr_join(path, "anyOf"), "anyOf must be a non-empty list of schemas.")
            else:
                for i, sub in enumerate(options):
                    self.node(sub, _ptr_join(path, "anyOf", i))
        if "default" in schema and not self.errors:
            self.default(schema, path)

    def types(self, schema: dict[str, Any], path: Path) -> list[str] | None:
        if "type" not in schema:
            return None
        raw = schema["type"]
        where = _ptr_join(path, "type")
        names = raw if isinstance(raw, list) else [raw]
        if isinstance(raw, list) and not raw:
            self.add(where, "type must name at least one type.")
            return None
        good: list[str] = []
        for name in names:
            if not isinstance(name, str) or name not in TYPES:
                self.add(where, f"{_fmt(name)} is not a type; use one of: {', '.join(TYPES)}.")
            elif name in good:
                self.add(where, f"type lists '{name}' twice.")
            else:
                good.append(name)
        return good or None

    def ref(self, schema: dict[str, Any], path: Path) -> None:
        where = _ptr_join(path, "$ref")
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            self.add(where, "$ref must point into this schema's $defs, like '#/$defs/name'.")
            return
        name = _unescape(ref.removeprefix("#/$defs/"))
        if name not in self.defs:
            self.add(where, f"$ref points to '{name}', which is not defined in $defs.")
        extra = sorted(set(schema) - REF_SIBLINGS)
        if extra:
            self.add(where, f"A $ref can only be combined with description, title and default, not {', '.join(extra)}.")

    def enum(self, schema: dict[str, Any], path: Path, types: list[str] | None) -> None:
        if "enum" not in schema:
            return
        where = _ptr_join(path, "enum")
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            self.add(where, "enum must be a non-empty list of allowed values.")
            return
        seen: set[Any] = set()
        for i, value in enumerate(values):
            key = _canonical(value) if isinstance(value, (dict, list)) else (json_type(value), value)
            if key in seen:
                self.add(_ptr_join(where, i), f"enum lists {_fmt(value)} twice.")
            seen.add(key)
        kinds = {_enum_kind(v) for v in values} - {"null"}
        if len(kinds) > 1:
            self.add(where, f"enum mixes types ({', '.join(sorted(kinds))}); all values must be of one type.")
        elif types is not None:
            for i, value in enumerate(values):
                if not _matches_type(value, types):
                    self.add(_ptr_join(where, i), f"enum value {_fmt(value)} is not of type {' or '.join(types)}.")

    def numeric(self, schema: dict[str, Any], path: Path, types: list[str] | None) -> None:
        bounds: dict[str, float] = {}
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in schema:
                if _is_number(schema[key]) and math.isfinite(schema[key]):
                    bounds[key] = schema[key]
                else:
                    self.add(_ptr_join(path, key), f"{key} must be a number, not {_fmt(schema[key])}.")
        low = [(v, k) for k, v in bounds.items() if k in ("minimum", "exclusiveMinimum")]
        high = [(v, k) for k, v in bounds.items() if k in ("maximum", "exclusiveMaximum")]
        for lo, lo_key in low:
            for hi, hi_key in high:
                strict = lo_key.startswith("exclusive") or hi_key.startswith("exclusive")
                if lo > hi or (strict and lo >= hi):
                    self.add(
                        _ptr_join(path, hi_key),
                        f"{hi_key} ({_fmt(hi)}) must be {'greater than' if strict else 'at least'} "
                        f"{lo_key} ({_fmt(lo)}); no number can satisfy both.",
                    )
                    return
        if types == ["integer"] and low and high:
            lo_int = max(math.floor(v) + 1 if k.startswith("exclusive") else math.ceil(v) for v, k in low)
            hi_int = min(math.ceil(v) - 1 if k.startswith("exclusive") else math.floor(v) for v, k in high)
            if lo_int > hi_int:
                self.add(_ptr_join(path, "maximum" if "maximum" in bounds else "exclusiveMaximum"),
                         "No whole number lies between the lower and upper bound of this integer field.")

    def _count_pair(self, schema: dict[str, Any], path: Path, lo_key: str, hi_key: str, what: str) -> None:
        for key in (lo_key, hi_key):
            if key in schema and not _is_count(schema[key]):
                self.add(_ptr_join(path, key), f"{key} must be a whole number of 0 or more, not {_fmt(schema[key])}.")
        lo, hi = schema.get(lo_key), schema.get(hi_key)
        if _is_count(lo) and _is_count(hi) and lo > hi:
            self.add(_ptr_join(path, hi_key), f"{hi_key} ({hi}) is less than {lo_key} ({lo}); no {what} can satisfy both.")

    def string(self, schema: dict[str, Any], path: Path) -> None:
        if "minLength" in schema or "maxLength" in schema:
            self._count_pair(schema, path, "minLength", "maxLength", "text")
        if "pattern" in schema:
            where = _ptr_join(path, "pattern")
            pattern = schema["pattern"]
            if not isinstance(pattern, str):
                self.add(where, "pattern must be a regular expression written as text.")
            elif len(pattern) > MAX_PATTERN_CHARS:
                self.add(where, f"pattern is too long (over {MAX_PATTERN_CHARS} characters).")
            else:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    self.add(where, f"pattern is not a valid regular expression: {exc}.")
                    return
                try:
                    linear_regex(pattern)
                except re2.error:
                    self.add(
                        where,
                        "pattern uses lookaround or a backreference; answers are checked with a regex engine "
                        "that runs in linear time (RE2), which has neither. Rewrite the pattern without them.",
                    )
        if "format" in schema:
            fmt = schema["format"]
            if fmt not in FORMATS:
                self.add(_ptr_join(path, "format"), f"Unknown format {_fmt(fmt)}; use one of: {', '.join(FORMATS)}.")

    def array(self, schema: dict[str, Any], path: Path) -> None:
        if "minItems" in schema or "maxItems" in schema:
            self._count_pair(schema, path, "minItems", "maxItems", "list")
        if "items" in schema:
            items = schema["items"]
            if isinstance(items, dict):
                self.node(items, _ptr_join(path, "items"))
            else:
                self.add(_ptr_join(path, "items"), "items must be one schema (an object) describing every item.")

    def object(self, schema: dict[str, Any], path: Path) -> None:
        props = schema.get("properties", {})
        if "properties" in schema:
            if not isinstance(props, dict):
                self.add(_ptr_join(path, "properties"), "properties must be an object mapping names to schemas.")
                props = {}
            for name, sub in props.items():
                if not name.strip():
                    self.add(_ptr_join(path, "properties", name), "A field name cannot be empty.")
                self.node(sub, _ptr_join(path, "properties", name))
        if "required" in schema:
            where = _ptr_join(path, "required")
            required = schema["required"]
            if not isinstance(required, list):
                self.add(where, "required must be a list of field names.")
            else:
                seen: set[str] = set()
                for i, name in enumerate(required):
                    if not isinstance(name, str):
                        self.add(_ptr_join(where, i), f"required must list field names, not {_fmt(name)}.")
                    elif name in seen:
                        self.add(_ptr_join(where, i), f"'{name}' is listed as required twice.")
                    elif name not in props:
                        self.add(_ptr_join(where, i), f"'{name}' is required but is not one of the properties.")
                    else:
                        seen.add(name)
        if "additionalProperties" in schema:
            extra = schema["additionalProperties"]
            if isinstance(extra, dict):
                self.node(extra, _ptr_join(path, "additionalProperties"))
            elif not isinstance(extra, bool):
                self.add(_ptr_join(path, "additionalProperties"), "additionalProperties must be true, false or a schema.")

    def default(self, schema: dict[str, Any], path: Path) -> None:
        # Without `pattern`: anyone may call the validate endpoint, and a backtracking regex
        # run on a crafted default would tie up a worker.
        sub = {k: v for k, v in schema.items() if k not in ("default", "pattern")}
        if "$ref" in sub:
            return
        errors = list(_instance_validator(sub, self.validator_class).iter_errors(schema["default"]))
        if errors:
            self.add(_ptr_join(path, "default"), f"default {_fmt(schema['default'])} does not fit this field: {errors[0].message}.")

    def check_ref_cycles(self) -> None:
        """Every definition on a cycle of $refs, found in one pass over the graph (a
        search from each definition was quadratic: 4 s for a chain of 3,000), then the
        size of the schema with every $ref inlined, which is what the model is shown."""
        graph = {name: [t for t in dict.fromkeys(_refs_in(sub)) if t in self.defs] for name, sub in self.defs.items()}
        on_cycle = _names_on_cycles(graph)
        for name in graph:
            if name in on_cycle:
                self.add(("$defs", name), f"'{name}' refers back to itself; recursive schemas are not supported.")
        if on_cycle or self.errors or not graph:  # without $defs, MAX_SCHEMA_CHARS bounds it
            return
        expanded = _expanded_size(self.root, self.defs, graph)
        if expanded > MAX_EXPANDED_NODES:
            self.add(
                ("$defs",),
                f"With every $ref written out, the schema would have more than {MAX_EXPANDED_NODES} "
                "fields; reuse fewer definitions inside each other.",
            )

    def check_answer_size(self) -> None:
        """Refuse a schema whose smallest answer no LLM could write (`minItems: 2000000`
        made the offline provider produce 36 MB)."""
        graph = {name: [t for t in dict.fromkeys(_refs_in(sub)) if t in self.defs] for name, sub in self.defs.items()}
        sizes: dict[str, int] = {}
        for name in _def_order(graph):
            sizes[name] = _min_answer_chars(self.defs[name], sizes)
        smallest = _min_answer_chars({k: v for k, v in self.root.items() if k != "$defs"}, sizes)
        if smallest > MAX_ANSWER_CHARS:
            self.add(
                (),
                f"An answer with every field of this schema needs more than {MAX_ANSWER_CHARS:,} characters, "
                "more than an LLM answer can hold; lower minItems or minLength.",
            )


def _names_on_cycles(graph: dict[str, list[str]]) -> set[str]:
    """Names that can reach themselves (Tarjan's strongly connected components,
    iterative so a long chain cannot exhaust the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[str] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            name, i = work.pop()
            if i == 0:
                index[name] = low[name] = len(index)
                stack.append(name)
                on_stack.add(name)
            targets = graph[name]
            if i < len(targets):
                work.append((name, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[name] = min(low[name], index[target])
                continue
            if low[name] == index[name]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                if len(component) > 1 or name in graph[name]:
                    found.update(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return found


def _def_order(graph: dict[str, list[str]]) -> list[str]:
    """Definitions (an acyclic graph here) each after every definition it refers to."""
    order: list[str] = []
    done: set[str] = set()
    for start in graph:
        work = [(start, False)]
        while work:
            name, expanded = work.pop()
            if expanded:
                if name not in done:
                    done.add(name)
                    order.append(name)
                continue
            if name in done:
                continue
            work.append((name, True))
            work.extend((t, False) for t in graph[name] if t not in done)
    return order


def _min_answer_chars(node: Any, defs: dict[str, int]) -> int:
    """Roughly the fewest characters of JSON an answer to `node` with every field can
    have (minItems and minLength add up). Optional fields and every option of a choice
    count: the offline provider may fill in any of them."""
    if not isinstance(node, dict):
        return 0
    ref = node.get("$ref")
    if isinstance(ref, str):
        return defs.get(_unescape(ref.removeprefix("#/$defs/")), 0)
    if "const" in node:
        return len(_canonical(node["const"]))
    if isinstance(node.get("enum"), list) and node["enum"]:
        return min(len(_canonical(v)) for v in node["enum"])
    if isinstance(node.get("anyOf"), list) and node["anyOf"]:
        return max(_min_answer_chars(sub, defs) for sub in node["anyOf"])
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    sizes = []
    for kind in kinds:
        if kind == "string":
            sizes.append(2 + _count(node.get("minLength")))
        elif kind == "array":
            sizes.append(2 + _count(node.get("minItems")) * (1 + _min_answer_chars(node.get("items"), defs)))
        elif kind == "object":
            props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
            sizes.append(2 + sum(4 + len(n) + _min_answer_chars(sub, defs) for n, sub in props.items()))
        else:
            sizes.append(1)
    return min(max(sizes, default=1), MAX_ANSWER_CHARS + 1)


def _count(value: Any) -> int:
    return value if _is_count(value) else 0


def _expanded_size(root: dict[str, Any], defs: dict[str, Any], graph: dict[str, list[str]]) -> int:
    """How many dict nodes the schema has once every $ref is inlined (defs form a DAG
    here). Linear: each definition's size is computed once."""
    sizes: dict[str, int] = {}

    def own(node: Any) -> tuple[int, list[str]]:
        count, refs, todo = 0, [], [node]
        while todo:
            item = todo.pop()
            if isinstance(item, dict):
                count += 1
                ref = item.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    refs.append(_unescape(ref.removeprefix("#/$defs/")))
                todo.extend(v for k, v in item.items() if k != "$defs")
            elif isinstance(item, list):
                todo.extend(item)
        return count, refs

    for name in _def_order(graph):
        count, refs = own(defs[name])
        sizes[name] = min(count + sum(sizes.get(r, 0) for r in refs), MAX_EXPANDED_NODES + 1)
    count, refs = own({k: v for k, v in root.items() if k != "$defs"})
    return count + sum(sizes.get(r, 0) for r in refs)


def _ptr_join(path: Path, *parts: str | int) -> Path:
    return path + parts


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _refs_in(schema: Any) -> Iterator[str]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                yield _unescape(ref.removeprefix("#/$defs/"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _enum_kind(value: Any) -> str:
    kind = json_type(value)
    return "number" if kind == "integer" else kind


_META_VALIDATORS: dict[type, jsonschema.protocols.Validator] = {}


def _meta_errors(schema: dict[str, Any], cls: type[jsonschema.protocols.Validator]) -> list[SchemaError]:
    meta = _META_VALIDATORS.get(cls)
    if meta is None:
        meta = _META_VALIDATORS[cls] = cls(cls.META_SCHEMA)
    return [
        SchemaError(_ptr(*e.absolute_path), f"Not valid JSON Schema: {e.message}.")
        for e in meta.iter_errors(schema)
    ]


# Checking instances --------------------------------------------------------------------

FORMAT_CHECKER = jsonschema.FormatChecker(["date", "email", "uuid", "ipv4", "ipv6"])
_RFC3339_TIME = r"\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]" + _RFC3339_TIME, value, flags=re.ASCII):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


@FORMAT_CHECKER.checks("time", raises=ValueError)
def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(_RFC3339_TIME, value, flags=re.ASCII):
        return False
    time.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


@FORMAT_CHECKER.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme)) and bool(parts.netloc or parts.path) and not re.search(r"\s", value)


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported to the user, not to stderr
_JSON_U_ESCAPE = re.compile(r"\\(u([0-9A-Fa-f]{4})|.)", re.DOTALL)


@functools.lru_cache(maxsize=1024)
def linear_regex(pattern: str) -> Any:
    """`pattern` compiled by RE2, whose matching time is linear in the text's length: a
    schema's `pattern` must not let an answer tie up a worker (`^(x+)+y$` backtracks
    exponentially in Python's re). Raises re2.error for what RE2 cannot run
    (lookaround, backreferences). JSON Schema's \\uXXXX escapes are RE2's \\x{XXXX}."""
    translated = _JSON_U_ESCAPE.sub(lambda m: f"\\x{{{m.group(2)}}}" if m.group(2) else m.group(0), pattern)
    return re2.compile(translated, _RE2_OPTIONS)


class OutputValidationTimeout(TimeoutError):
    """The run's timeout ran out while an answer was being checked."""


_deadline: ContextVar[float | None] = ContextVar("output_validation_deadline", default=None)


class deadline:  # noqa: N801 - used like a function: `async with deadline(seconds):`
    """Within this block (sync or async), checking an answer against its schema stops
    with OutputValidationTimeout once `seconds` have passed. asyncio's timeout cannot
    interrupt validation, which runs on the event loop without awaiting."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> deadline:
        self._token = _deadline.set(monotonic() + self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        _deadline.reset(self._token)

    async def __aenter__(self) -> deadline:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


def _on_time(keyword: Any) -> Any:
    def checked(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        until = _deadline.get()
        if until is not None and monotonic() > until:
            raise OutputValidationTimeout("The run's timeout ran out while its answer was checked against the output schema.")
        return keyword(validator, value, instance, schema)

    return checked


def _linear_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not linear_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _answer_validator_class(cls: type[jsonschema.protocols.Validator]) -> type[jsonschema.protocols.Validator]:
    keywords = {name: _on_time(fn) for name, fn in cls.VALIDATORS.items()}
    keywords["pattern"] = _on_time(_linear_pattern)
    return jsonschema.validators.extend(cls, keywords)


_ANSWER_VALIDATORS = {cls: _answer_validator_class(cls) for cls in {*_DIALECTS.values()}}
# Past this many, further errors of one answer are not even collected.
MAX_COLLECTED_ERRORS = 1_000


def _instance_validator(schema: dict[str, Any], cls: type[jsonschema.protocols.Validator]) -> jsonschema.protocols.Validator:
    return _ANSWER_VALIDATORS.get(cls, cls)(schema, format_checker=FORMAT_CHECKER)


def instance_errors(validator: jsonschema.protocols.Validator, data: Any) -> list[SchemaError]:
    found = itertools.islice(validator.iter_errors(data), MAX_COLLECTED_ERRORS)
    errors = sorted(found, key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [SchemaError(_ptr(*e.absolute_path), e.message) for e in errors[:MAX_ERRORS]]


# Compilation ---------------------------------------------------------------------------


class OutputSchemaError(ValueError):
    """compile_output_type was given a schema that schema_errors() rejects."""

    def __init__(self, errors: list[SchemaError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass(frozen=True, eq=False)
class CompiledOutput:
    schema: dict[str, Any]  # the stored schema (a private copy)
    hash: str
    json_schema: dict[str, Any]  # what the model is shown: $defs inlined, type lists as anyOf
    output_type: type  # for Agent(output_type=...): validates strictly, errors become retries
    validator: jsonschema.protocols.Validator = field(repr=False)

    def validate(self, data: Any) -> list[SchemaError]:
        return instance_errors(self.validator, data)

    def example(self, seed: int = 0) -> dict[str, Any]:
        """A deterministic, schema-valid instance (for the offline provider)."""
        rng = random.Random(seed)
        example = _Example(rng)
        for _ in range(20):
            candidate = example.gen(self.json_schema)
            if not self.validate(candidate):
                return candidate
        raise ValueError("Could not build a valid example for this schema (are its patterns satisfiable?).")


# Four bounded LRUs: by the identity of a dict seen before (checked unchanged), by its shape (an
# equal dict loaded afresh, checked with ==), by a cheap exact
# key (the schema's marshal bytes, which follow key order), and by the canonical content hash,
# so the same schema written in another key order is not compiled twice.
_cache: OrderedDict[bytes, CompiledOutput] = OrderedDict()
_by_hash: OrderedDict[str, CompiledOutput] = OrderedDict()
_by_id: OrderedDict[int, tuple[Any, CompiledOutput]] = OrderedDict()
_by_shape: OrderedDict[tuple[int, int], tuple[CompiledOutput, ...]] = OrderedDict()
_lock = threading.RLock()  # re-entered: compile_output_type calls _remember under it


def compile_output_type(schema: dict[str, Any]) -> CompiledOutput:
    """Compile (or fetch from the process-wide LRU) the output type for `schema`.

    Raises OutputSchemaError if the schema is not a valid output schema.
    """
    # Fastest path: the very same dict object as before, unchanged since (== is a C-level walk).
    entry = _by_id.get(id(schema))
    if entry is not None and entry[0] is schema and schema == entry[1].schema:
        return entry[1]
    # An equal dict loaded afresh (a run reads its task from the database): one C-level
    # == against the schema of the same shape seen before, instead of serializing it.
    shape = _shape(schema)
    for candidate in _by_shape.get(shape, ()) if shape is not None else ():
        if schema == candidate.schema:
            return candidate
    try:
        # Version 2: no back-references, so equal dicts in equal key order give equal bytes.
        key = marshal.dumps(schema, 2)
    except ValueError as exc:  # not plain JSON data
        raise OutputSchemaError([SchemaError("", "The schema must contain only JSON values.")]) from exc
    with _lock:
        compiled = _cache.get(key)
        if compiled is not None:
            _cache.move_to_end(key)
    if compiled is not None:
        return compiled
    try:
        text = _canonical(schema)
    except (TypeError, ValueError, RecursionError):
        raise OutputSchemaError([SchemaError("", "The schema must contain only JSON values (no NaN or infinity).")]) from None
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    with _lock:
        compiled = _by_hash.get(content_hash)
    if compiled is None:
        compiled = _compile(schema, content_hash, key, len(text))
    size = max(1, settings.OUTPUT_SCHEMA_CACHE_SIZE)
    with _lock:
        for cache, cache_key in ((_cache, key), (_by_hash, content_hash)):
            cache[cache_key] = compiled
            cache.move_to_end(cache_key)
            while len(cache) > size:
                cache.popitem(last=False)
    _remember(schema, compiled)
    if shape is not None and not _bool_sensitive(compiled.schema):
        with _lock:
            # A few schemas per shape, newest first (a tuple: readers need no lock).
            others = [c for c in _by_shape.get(shape, ()) if c is not compiled]
            _by_shape[shape] = (compiled, *others[: min(SHAPE_CANDIDATES, size) - 1])
            _by_shape.move_to_end(shape)
            while len(_by_shape) > 1 and sum(map(len, _by_shape.values())) > size:
                _by_shape.popitem(last=False)
    return compiled


SHAPE_CANDIDATES = 8


def _shape(schema: Any) -> tuple[int, int] | None:
    """A key equal schemas share and that costs nothing to compute (no string hashing):
    how many keys the schema and its properties have."""
    if type(schema) is not dict:
        return None
    properties = schema.get("properties")
    return len(schema), len(properties) if type(properties) is dict else -1


# Values that == cannot tell apart from a differently typed twin (True == 1 == 1.0).
_VALUE_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


def _bool_sensitive(schema: Any, in_value: bool = False) -> bool:
    """Whether == could confuse this schema with another: a boolean anywhere in a
    value keyword (const, enum, default, examples) or a 0/1 there, where JSON Schema
    tells true from 1. Such schemas skip the == path (schema keywords holding a
    boolean or 0/1 have one valid type, checked when the schema is saved)."""
    if type(schema) is dict:
        return any(_bool_sensitive(v, in_value or k in _VALUE_KEYWORDS) for k, v in schema.items())
    if type(schema) is list:
        return any(_bool_sensitive(v, in_value) for v in schema)
    return in_value and (type(schema) is bool or (type(schema) in (int, float) and schema in (0, 1)))


def _remember(schema: dict[str, Any], compiled: CompiledOutput) -> None:
    # Holding `schema` keeps its id from being reused by another object while it is here.
    with _lock:
        _by_id[id(schema)] = (schema, compiled)
        _by_id.move_to_end(id(schema))
        while len(_by_id) > max(1, settings.OUTPUT_SCHEMA_CACHE_SIZE):
            _by_id.popitem(last=False)


def clear_compile_cache() -> None:
    with _lock:
        _cache.clear()
        _by_hash.clear()
        _by_id.clear()
        _by_shape.clear()


def _compile(schema: dict[str, Any], content_hash: str, exact_key: bytes, size: int) -> CompiledOutput:
    errors = schema_errors(schema, meta=False, _size=size)
    if errors:
        raise OutputSchemaError(errors)
    stored = marshal.loads(exact_key)  # a private deep copy, much cheaper than copy.deepcopy
    cls = _DIALECTS.get(stored.get("$schema", DRAFT_2020_12), jsonschema.Draft202012Validator)
    validator = _instance_validator(stored, cls)
    model_schema = _model_schema(stored)
    return CompiledOutput(
        schema=stored,
        hash=content_hash,
        json_schema=model_schema,
        output_type=_output_type(model_schema, validator, content_hash),
        validator=validator,
    )


def _output_type(model_schema: dict[str, Any], validator: jsonschema.protocols.Validator, key: str) -> type:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        errors = instance_errors(validator, value)
        if errors:
            raise ValueError("the answer does not match the output schema: " + "; ".join(map(str, errors)))
        return value

    class TaskOutput(dict):  # like pydantic_ai.StructuredDict, plus strict validation
        __is_model_like__ = True

        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
            return core_schema.no_info_after_validator_function(
                check, core_schema.dict_schema(keys_schema=core_schema.str_schema(), values_schema=core_schema.any_schema())
            )

        @classmethod
        def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
            return copy.deepcopy(model_schema)

    TaskOutput.__qualname__ = TaskOutput.__name__ = f"TaskOutput_{key[:12]}"
    return TaskOutput


def _model_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as shown to the model: no $schema, $defs inlined, type lists split into anyOf.

    Accepts exactly the same instances as the stored schema; TestModel and vendor tool APIs
    understand this form where they do not understand type lists or $defs.
    """
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = walk(defs[_unescape(node["$ref"].removeprefix("#/$defs/"))])
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$schema", "$defs"):
                continue
            if key == "properties":
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key in ("items", "additionalProperties"):
                out[key] = walk(value)
            elif key == "anyOf":
                out[key] = [walk(sub) for sub in value]
            else:
                out[key] = value
        types = out.get("type")
        if isinstance(types, list):
            if len(types) == 1:
                out["type"] = types[0]
            else:
                out = _split_types(out, types)
        return out

    return walk(schema)


def _split_types(node: dict[str, Any], types: list[str]) -> dict[str, Any]:
    shared = {k: v for k, v in node.items() if k != "type" and k not in KEYWORD_TYPE}
    branches = []
    for name in types:
        owner = "number" if name == "integer" else name
        branch = {"type": name, **{k: v for k, v in node.items() if KEYWORD_TYPE.get(k) == owner}}
        branches.append(branch)
    if "anyOf" in shared:
        # Both a type list and an anyOf: keep both constraints.
        return {**{k: v for k, v in shared.items() if k != "anyOf"}, "allOf": [{"anyOf": branches}, {"anyOf": shared["anyOf"]}]}
    return {**shared, "anyOf": branches}


class _BoundedXeger(rstr.Rstr):
    """rstr with `*`/`+` repeating at most 20 times (rstr's 100 multiplies per nesting
    level: `(x+)+` made strings of up to 10,000 characters, each try)."""

    def _handle_repeat(self, start_range: int, end_range: int, value: str) -> str:
        return super()._handle_repeat(start_range, max(start_range, min(end_range, EXAMPLE_REPEAT_LIMIT)), value)


EXAMPLE_REPEAT_LIMIT = 20
# Building an example stops after this long (an unsatisfiable pattern would otherwise
# be retried, 50 tries a field, 20 examples over).
EXAMPLE_SECONDS = 1.0


def random_instance(schema: dict[str, Any], rng: random.Random) -> Any:
    """One instance of `schema` drawn from `rng`, not checked against it (callers
    validate and draw again). ValueError when building it takes over EXAMPLE_SECONDS."""
    return _Example(rng).gen(schema)


class _Example:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.xeger = _BoundedXeger(rng)
        self.until = monotonic() + EXAMPLE_SECONDS

    def gen(self, node: Any) -> Any:  # noqa: C901
        r = self.rng
        if not isinstance(node, dict):
            return None
        if "const" in node:
            return copy.deepcopy(node["const"])
        if "enum" in node:
            return copy.deepcopy(r.choice(node["enum"]))
        if "allOf" in node:
            return self.gen(node["allOf"][0])
        if "anyOf" in node:
            return self.gen({**{k: v for k, v in node.items() if k != "anyOf"}, **r.choice(node["anyOf"])})
        kind = node.get("type")
        if kind == "object":
            props = node.get("properties", {})
            required = set(node.get("required", []))
            return {name: self.gen(sub) for name, sub in props.items() if name in required or r.random() < 0.7}
        if kind == "array":
            lo = node.get("minItems", 0)
            hi = node.get("maxItems", max(lo, 3))
            return [self.gen(node.get("items", {"type": "string"})) for _ in range(r.randint(lo, min(hi, max(lo, 3))))]
        if kind == "string":
            return self.string(node)
        if kind == "integer":
            lo, hi = _int_bounds(node)
            if lo is None and hi is None:
                return r.randint(0, 100)
            if lo is None:
                return hi - r.randint(0, 10)
            if hi is None:
                return lo + r.randint(0, 10)
            return r.randint(lo, hi)
        if kind == "number":
            lo = _first(node, "minimum", "exclusiveMinimum", max)
            hi = _first(node, "maximum", "exclusiveMaximum", min)
            if lo is None and hi is None:
                return round(r.uniform(-100, 100), 3)
            if lo is None:
                return float(hi) - 1 - r.random()
            if hi is None:
                return float(lo) + 1 + r.random()
            value = lo + (hi - lo) * (0.1 + 0.8 * r.random())
            return value if lo < value < hi else (lo + hi) / 2
        if kind == "boolean":
            return r.random() < 0.5
        return None

    def string(self, node: dict[str, Any]) -> str:
        r = self.rng
        lo, hi = node.get("minLength", 0), node.get("maxLength")
        fmt = node.get("format")
        if fmt is not None:
            text = _format_example(fmt, r)
        elif "pattern" in node:
            pattern = node["pattern"]
            text = "x"
            for _ in range(50):
                if monotonic() > self.until:
                    raise ValueError("Building an example for this schema took too long.")
                try:
                    text = self.xeger.xeger(pattern)
                except Exception:  # a construct rstr cannot generate (e.g. lookarounds)
                    break
                if len(text) >= lo and (hi is None or len(text) <= hi):
                    return text
            return text
        else:
            words = ["alpha", "beta", "gamma", "delta", "market", "signal", "trend"]
            text = " ".join(r.choice(words) for _ in range(r.randint(1, 4)))
        if len(text) < lo:
            text = text + "x" * (lo - len(text))
        if hi is not None and len(text) > hi:
            text = text[:hi]
        return text


def _first(node: dict[str, Any], inclusive: str, exclusive: str, pick: Any) -> float | None:
    values = [node[k] for k in (inclusive, exclusive) if k in node]
    return pick(values) if values else None


def _int_bounds(node: dict[str, Any]) -> tuple[int | None, int | None]:
    lows = []
    if "minimum" in node:
        lows.append(math.ceil(node["minimum"]))
    if "exclusiveMinimum" in node:
        lows.append(math.floor(node["exclusiveMinimum"]) + 1)
    highs = []
    if "maximum" in node:
        highs.append(math.floor(node["maximum"]))
    if "exclusiveMaximum" in node:
        highs.append(math.ceil(node["exclusiveMaximum"]) - 1)
    return (max(lows) if lows else None, min(highs) if highs else None)


def _format_example(fmt: str, r: random.Random) -> str:
    day = date(2024, 1, 1) + timedelta(days=r.randrange(365))
    return {
        "date": day.isoformat(),
        "date-time": f"{day.isoformat()}T{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
        "time": f"{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
        "email": f"analyst{r.randrange(100)}@example.com",
        "uri": f"https://example.com/{r.randrange(1000)}",
        "uuid": str(uuid.UUID(int=r.getrandbits(128), version=4)),
        "ipv4": str(ipaddress.IPv4Address(r.getrandbits(32))),
        "ipv6": str(ipaddress.IPv6Address(r.getrandbits(128))),
    }.get(fmt, "x")
