"""Checking a schema takes time linear in its size: the largest schemas the limits
allow are checked in milliseconds, and what would expand without bound is refused."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents_llm import output_schema
from agents_llm.output_schema import MAX_EXPANDED_NODES, MAX_SCHEMA_CHARS, schema_errors
from tests.api_support import as_reader  # noqa: F401

pytestmark = pytest.mark.django_db


def _fastest(check, times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        check()
        best = min(best, time.perf_counter() - started)
    return best


def wide_schema(n: int = 3500) -> dict:
    props = {f"f{i:04d}": {"type": "string"} for i in range(n)}
    return {"type": "object", "properties": props, "required": list(props)[:300], "additionalProperties": False}


def test_a_3500_field_schema_near_the_size_limit_is_checked_in_milliseconds(as_reader):
    schema = wide_schema()
    assert 0.9 * MAX_SCHEMA_CHARS < len(json.dumps(schema, separators=(",", ":"))) < MAX_SCHEMA_CHARS

    took = _fastest(lambda: as_reader.post("/schemas/validate", {"schema": schema}))

    assert as_reader.post("/schemas/validate", {"schema": schema}).json() == {"valid": True}
    assert took < 0.25, took  # it was 1.9 s (a meta-schema pass of 0.3 ms a field)


def test_a_long_chain_of_definitions_is_checked_in_milliseconds():
    defs = {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(2500)}
    defs["d2500"] = {"type": "string"}
    schema = {"type": "object", "$defs": defs, "properties": {"a": {"$ref": "#/$defs/d0"}}}

    took = _fastest(lambda: schema_errors(schema))

    assert schema_errors(schema) == []
    assert took < 0.25, took  # it was 4 s (a search from every definition)


def test_a_cycle_through_many_definitions_is_still_found_for_each_of_them():
    defs = {f"d{i}": {"$ref": f"#/$defs/d{(i + 1) % 3}"} for i in range(3)}
    schema = {"type": "object", "$defs": {**defs, "ok": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/d0"}}}

    errors = schema_errors(schema)

    assert sorted(e.path for e in errors) == ["/$defs/d0", "/$defs/d1", "/$defs/d2"]
    assert all("refers back to itself" in e.msg for e in errors)


def test_definitions_that_each_use_the_next_twice_are_refused_before_they_expand(as_reader):
    defs = {
        f"d{i}": {"type": "object", "properties": {"a": {"$ref": f"#/$defs/d{i + 1}"}, "b": {"$ref": f"#/$defs/d{i + 1}"}}}
        for i in range(40)
    }
    defs["d40"] = {"type": "string"}
    schema = {"type": "object", "$defs": defs, "properties": {"a": {"$ref": "#/$defs/d0"}}}

    started = time.perf_counter()
    body = as_reader.post("/schemas/validate", {"schema": schema}).json()

    assert time.perf_counter() - started < 5  # 2^40 expansions would never end: the bound only needs to be finite
    assert body["valid"] is False
    assert body["errors"][0]["path"] == "/$defs"
    assert str(MAX_EXPANDED_NODES) in body["errors"][0]["msg"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(sorted(output_schema.SUPPORTED_KEYWORDS)) | st.text(max_size=3), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(properties=st.dictionaries(st.text(min_size=1, max_size=3), JSON_VALUES, max_size=3))
def test_what_the_subset_rules_accept_the_meta_schema_accepts_too(properties):
    """Why the slow meta-schema pass can be left out: it never finds anything more."""
    schema = {"type": "object", "properties": properties}

    if schema_errors(schema) == []:
        assert list(jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA).iter_errors(schema)) == []
