"""Compiling a valid output schema into a PydanticAI output type, once per process.

    compiled = compile_output_type(task.response_schema)
    agent = Agent(model, output_type=compiled.output_type)  # tool schema = compiled.json_schema
    compiled.validate(data)   # -> list[SchemaError], [] when valid
    compiled.example(seed=0)  # a schema-valid instance, e.g. TestModel(custom_output_args=...)

`output_type` validates what the model returns strictly against the stored schema with
`jsonschema` (formats included); an invalid answer raises a pydantic ValidationError whose
message lists every error with its path, which PydanticAI sends back to the model as a retry.
Compiled outputs are cached in bounded LRUs (`settings.OUTPUT_SCHEMA_CACHE_SIZE`).
"""

from __future__ import annotations

import copy
import hashlib
import marshal
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from django.conf import settings
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

from agents_llm.output_schema.examples import Example
from agents_llm.output_schema.linting import schema_errors
from agents_llm.output_schema.rules import DIALECTS, DRAFT_2020_12, KEYWORD_TYPE, SchemaError, canonical, unescape
from agents_llm.output_schema.validation import instance_errors, instance_validator


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
        example = Example(rng)
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
        text = canonical(schema)
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
    cls = DIALECTS.get(stored.get("$schema", DRAFT_2020_12), jsonschema.Draft202012Validator)
    validator = instance_validator(stored, cls)
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
            target = walk(defs[unescape(node["$ref"].removeprefix("#/$defs/"))])
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
