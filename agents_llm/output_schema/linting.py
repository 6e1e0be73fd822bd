"""Linting a task's output schema before it is saved: `schema_errors` lists every way
the schema leaves the subset that rules.py describes, each with its JSON pointer and a
plain-words message, and `validate_schema` raises them as a django ValidationError.
"""

from __future__ import annotations

import math
import re
from typing import Any

import jsonschema
import re2
from django.core.exceptions import ValidationError

from agents_llm.output_schema.graph import def_order, expanded_size, min_answer_chars, names_on_cycles, refs_in
from agents_llm.output_schema.rules import (
    DIALECTS,
    DRAFT_07,
    DRAFT_2020_12,
    FORMATS,
    KEYWORD_TYPE,
    MAX_ANSWER_CHARS,
    MAX_DEPTH,
    MAX_ERRORS,
    MAX_EXPANDED_NODES,
    MAX_PATTERN_CHARS,
    MAX_SCHEMA_CHARS,
    REF_SIBLINGS,
    SUPPORTED_KEYWORDS,
    TYPES,
    SchemaError,
    canonical,
    enum_kind,
    is_count,
    is_number,
    json_type,
    matches_type,
    pointer,
    short_json,
    unescape,
)
from agents_llm.output_schema.validation import instance_validator, linear_regex


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
            size = len(canonical(schema))
        except (TypeError, ValueError):
            return SchemaError("", "The schema must contain only JSON values (no NaN or infinity).")
    if size > MAX_SCHEMA_CHARS:
        return SchemaError("", f"The schema is too large ({size} characters; the limit is {MAX_SCHEMA_CHARS}).")
    return None


Path = tuple[str | int, ...]  # JSON pointer parts; joined only when an error is reported


class _SchemaChecker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.errors: list[SchemaError] = []
        self.validator_class: type[jsonschema.protocols.Validator] = jsonschema.Draft202012Validator

    def add(self, path: Path, msg: str) -> None:
        self.errors.append(SchemaError(pointer(*path), msg))

    def run(self) -> list[SchemaError]:
        root = self.root
        dialect = root.get("$schema")
        if dialect is not None:
            if isinstance(dialect, str) and dialect in DIALECTS:
                self.validator_class = DIALECTS[dialect]
            else:
                self.add(("$schema",), f"Unknown $schema {short_json(dialect)}; use {DRAFT_2020_12} or {DRAFT_07}.")
        if root.get("type") != "object":
            if "type" not in root:
                self.add(("type",), "The root of the schema must have type 'object'; it has no type.")
            else:
                self.add(("type",), f"The root of the schema must have type 'object', not {short_json(root['type'])}.")
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
            self.add(path, f"A field's schema must be a JSON object, not {short_json(schema)}.")
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
        if "const" in schema and types is not None and not matches_type(schema["const"], types):
            self.add(_ptr_join(path, "const"), f"const {short_json(schema['const'])} is not of type {' or '.join(types)}.")
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
                self.add(where, f"{short_json(name)} is not a type; use one of: {', '.join(TYPES)}.")
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
        name = unescape(ref.removeprefix("#/$defs/"))
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
            key = canonical(value) if isinstance(value, (dict, list)) else (json_type(value), value)
            if key in seen:
                self.add(_ptr_join(where, i), f"enum lists {short_json(value)} twice.")
            seen.add(key)
        kinds = {enum_kind(v) for v in values} - {"null"}
        if len(kinds) > 1:
            self.add(where, f"enum mixes types ({', '.join(sorted(kinds))}); all values must be of one type.")
        elif types is not None:
            for i, value in enumerate(values):
                if not matches_type(value, types):
                    self.add(_ptr_join(where, i), f"enum value {short_json(value)} is not of type {' or '.join(types)}.")

    def numeric(self, schema: dict[str, Any], path: Path, types: list[str] | None) -> None:
        bounds: dict[str, float] = {}
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in schema:
                if is_number(schema[key]) and math.isfinite(schema[key]):
                    bounds[key] = schema[key]
                else:
                    self.add(_ptr_join(path, key), f"{key} must be a number, not {short_json(schema[key])}.")
        low = [(v, k) for k, v in bounds.items() if k in ("minimum", "exclusiveMinimum")]
        high = [(v, k) for k, v in bounds.items() if k in ("maximum", "exclusiveMaximum")]
        for lo, lo_key in low:
            for hi, hi_key in high:
                strict = lo_key.startswith("exclusive") or hi_key.startswith("exclusive")
                if lo > hi or (strict and lo >= hi):
                    self.add(
                        _ptr_join(path, hi_key),
                        f"{hi_key} ({short_json(hi)}) must be {'greater than' if strict else 'at least'} "
                        f"{lo_key} ({short_json(lo)}); no number can satisfy both.",
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
            if key in schema and not is_count(schema[key]):
                self.add(_ptr_join(path, key), f"{key} must be a whole number of 0 or more, not {short_json(schema[key])}.")
        lo, hi = schema.get(lo_key), schema.get(hi_key)
        if is_count(lo) and is_count(hi) and lo > hi:
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
                self.add(_ptr_join(path, "format"), f"Unknown format {short_json(fmt)}; use one of: {', '.join(FORMATS)}.")

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
                        self.add(_ptr_join(where, i), f"required must list field names, not {short_json(name)}.")
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
        errors = list(instance_validator(sub, self.validator_class).iter_errors(schema["default"]))
        if errors:
            self.add(_ptr_join(path, "default"), f"default {short_json(schema['default'])} does not fit this field: {errors[0].message}.")

    def check_ref_cycles(self) -> None:
        """Every definition on a cycle of $refs, found in one pass over the graph (a
        search from each definition was quadratic: 4 s for a chain of 3,000), then the
        size of the schema with every $ref inlined, which is what the model is shown."""
        graph = {name: [t for t in dict.fromkeys(refs_in(sub)) if t in self.defs] for name, sub in self.defs.items()}
        on_cycle = names_on_cycles(graph)
        for name in graph:
            if name in on_cycle:
                self.add(("$defs", name), f"'{name}' refers back to itself; recursive schemas are not supported.")
        if on_cycle or self.errors or not graph:  # without $defs, MAX_SCHEMA_CHARS bounds it
            return
        expanded = expanded_size(self.root, self.defs, graph)
        if expanded > MAX_EXPANDED_NODES:
            self.add(
                ("$defs",),
                f"With every $ref written out, the schema would have more than {MAX_EXPANDED_NODES} "
                "fields; reuse fewer definitions inside each other.",
            )

    def check_answer_size(self) -> None:
        """Refuse a schema whose smallest answer no LLM could write (`minItems: 2000000`
        made the offline provider produce 36 MB)."""
        graph = {name: [t for t in dict.fromkeys(refs_in(sub)) if t in self.defs] for name, sub in self.defs.items()}
        sizes: dict[str, int] = {}
        for name in def_order(graph):
            sizes[name] = min_answer_chars(self.defs[name], sizes)
        smallest = min_answer_chars({k: v for k, v in self.root.items() if k != "$defs"}, sizes)
        if smallest > MAX_ANSWER_CHARS:
            self.add(
                (),
                f"An answer with every field of this schema needs more than {MAX_ANSWER_CHARS:,} characters, "
                "more than an LLM answer can hold; lower minItems or minLength.",
            )


def _ptr_join(path: Path, *parts: str | int) -> Path:
    return path + parts


_META_VALIDATORS: dict[type, jsonschema.protocols.Validator] = {}


def _meta_errors(schema: dict[str, Any], cls: type[jsonschema.protocols.Validator]) -> list[SchemaError]:
    meta = _META_VALIDATORS.get(cls)
    if meta is None:
        meta = _META_VALIDATORS[cls] = cls(cls.META_SCHEMA)
    return [
        SchemaError(pointer(*e.absolute_path), f"Not valid JSON Schema: {e.message}.")
        for e in meta.iter_errors(schema)
    ]
