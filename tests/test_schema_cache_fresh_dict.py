"""The compile cache finds an equal schema loaded afresh without serializing it, and
never mistakes `true` for `1` where JSON Schema tells them apart."""

from __future__ import annotations

import json

from agents_llm import output_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "signal": {"type": "string", "enum": ["buy", "hold", "sell"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["signal", "confidence"],
    "additionalProperties": False,
}


def test_an_equal_schema_loaded_afresh_gets_the_compiled_output_of_the_first():
    output_schema.clear_compile_cache()
    first = output_schema.compile_output_type(json.loads(json.dumps(SCHEMA)))

    again = output_schema.compile_output_type(json.loads(json.dumps(SCHEMA)))

    assert again is first


def test_a_schema_of_the_same_shape_with_other_values_is_compiled_on_its_own():
    output_schema.clear_compile_cache()
    first = output_schema.compile_output_type(SCHEMA)
    other = json.loads(json.dumps(SCHEMA))
    other["properties"]["confidence"]["maximum"] = 100

    compiled = output_schema.compile_output_type(other)

    assert compiled is not first and compiled.validate({"signal": "buy", "confidence": 50}) == []


def test_true_and_1_in_an_enum_are_different_schemas():
    output_schema.clear_compile_cache()
    with_true = {"type": "object", "properties": {"flag": {"enum": [True]}}, "required": ["flag"]}
    with_one = {"type": "object", "properties": {"flag": {"enum": [1]}}, "required": ["flag"]}

    first = output_schema.compile_output_type(with_true)
    second = output_schema.compile_output_type(with_one)

    assert second is not first
    assert first.validate({"flag": True}) == [] and second.validate({"flag": 1}) == []
    assert second.validate({"flag": True}) != []
