"""Every rule of output-schema validation, each error with its JSON path."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents_llm.output_schema import MAX_DEPTH, SchemaError, schema_errors, validate_schema
from agents_llm.seed_data import TASKS


def obj(**properties) -> dict:
    return {"type": "object", "properties": properties}


def errors_of(schema) -> list[tuple[str, str]]:
    return [(e.path, e.msg) for e in schema_errors(schema)]


def assert_single_error(schema, path: str, words: str) -> None:
    errors = errors_of(schema)
    assert len(errors) == 1, errors
    assert errors[0][0] == path
    assert words in errors[0][1]


@pytest.mark.parametrize("task", TASKS, ids=[t["name"] for t in TASKS])
def test_every_seed_schema_is_valid(task):
    assert schema_errors(task["response_schema"]) == []


@pytest.mark.parametrize("dialect", [
    "https://json-schema.org/draft/2020-12/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
])
def test_it_accepts_draft_07_and_2020_12(dialect):
    assert schema_errors({"$schema": dialect, **obj(a={"type": "string"})}) == []


def test_it_accepts_a_schema_without_a_dialect_as_2020_12():
    assert schema_errors(obj(a={"type": ["number", "null"], "exclusiveMinimum": 0})) == []


def test_it_accepts_a_nullable_enum():
    assert schema_errors(obj(a={"type": ["string", "null"], "enum": ["x", None]})) == []


def test_it_accepts_defs_and_refs():
    schema = {
        **obj(a={"$ref": "#/$defs/level", "description": "Risk."}, b={"type": "array", "items": {"$ref": "#/$defs/level"}}),
        "$defs": {"level": {"type": "integer", "minimum": 1, "maximum": 5}},
    }
    assert schema_errors(schema) == []


CASES = [
    # (id, schema, path, words)
    ("not-an-object", ["type", "object"], "", "must be a JSON object"),
    ("root-without-type", {"properties": {}}, "/type", "must have type 'object'"),
    ("root-not-object", {"type": "array"}, "/type", "must have type 'object'"),
    ("unknown-dialect", {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}, "/$schema", "Unknown $schema"),
    ("unsupported-keyword", obj(a={"type": "string", "oneOf": []}), "/properties/a/oneOf", "not supported"),
    ("unknown-type", obj(a={"type": "strin"}), "/properties/a/type", "is not a type"),
    ("type-twice", obj(a={"type": ["string", "string"]}), "/properties/a/type", "twice"),
    ("empty-type-list", obj(a={"type": []}), "/properties/a/type", "at least one type"),
    ("field-without-type", obj(a={"description": "What?"}), "/properties/a/type", "has no type"),
    ("field-not-an-object", obj(a="string"), "/properties/a", "must be a JSON object"),
    ("properties-not-object", {"type": "object", "properties": ["a"]}, "/properties", "must be an object"),
    ("empty-field-name", obj(**{" ": {"type": "string"}}), "/properties/ ", "cannot be empty"),
    ("required-not-a-property", {**obj(a={"type": "string"}), "required": ["a", "b"]}, "/required/1", "'b' is required but is not one of the properties"),
    ("required-twice", {**obj(a={"type": "string"}), "required": ["a", "a"]}, "/required/1", "twice"),
    ("required-not-a-list", {**obj(a={"type": "string"}), "required": "a"}, "/required", "must be a list"),
    ("enum-empty", obj(a={"type": "string", "enum": []}), "/properties/a/enum", "non-empty list"),
    ("enum-mixed-types", obj(a={"enum": ["buy", 1]}), "/properties/a/enum", "mixes types"),
    ("enum-wrong-type", obj(a={"type": "string", "enum": [1]}), "/properties/a/enum/0", "is not of type string"),
    ("enum-twice", obj(a={"type": "string", "enum": ["x", "x"]}), "/properties/a/enum/1", "twice"),
    ("const-wrong-type", obj(a={"type": "integer", "const": "1"}), "/properties/a/const", "is not of type integer"),
    ("minimum-above-maximum", obj(confidence={"type": "number", "minimum": 2, "maximum": 1}), "/properties/confidence/maximum", "must be at least minimum"),
    ("empty-exclusive-range", obj(a={"type": "number", "exclusiveMinimum": 1, "maximum": 1}), "/properties/a/maximum", "must be greater than exclusiveMinimum"),
    ("bound-not-a-number", obj(a={"type": "number", "maximum": "10"}), "/properties/a/maximum", "must be a number"),
    ("bound-is-a-boolean", obj(a={"type": "number", "minimum": True}), "/properties/a/minimum", "must be a number"),
    ("integer-range-without-integers", obj(a={"type": "integer", "minimum": 0.2, "maximum": 0.8}), "/properties/a/maximum", "No whole number"),
    ("min-length-above-max-length", obj(a={"type": "string", "minLength": 5, "maxLength": 2}), "/properties/a/maxLength", "less than minLength"),
    ("negative-length", obj(a={"type": "string", "minLength": -1}), "/properties/a/minLength", "0 or more"),
    ("fractional-length", obj(a={"type": "string", "maxLength": 2.5}), "/properties/a/maxLength", "whole number"),
    ("invalid-regex", obj(a={"type": "string", "pattern": "^[A-Z"}), "/properties/a/pattern", "not a valid regular expression"),
    ("pattern-too-long", obj(a={"type": "string", "pattern": "a" * 1001}), "/properties/a/pattern", "too long"),
    ("unknown-format", obj(a={"type": "string", "format": "colour"}), "/properties/a/format", "Unknown format"),
    ("keyword-for-another-type", obj(a={"type": "number", "maxLength": 3}), "/properties/a/maxLength", "applies to string fields"),
    ("items-as-a-list", obj(a={"type": "array", "items": [{"type": "string"}]}), "/properties/a/items", "must be one schema"),
    ("bad-nested-item", obj(a={"type": "array", "items": {"type": "number", "minimum": 3, "maximum": 1}}), "/properties/a/items/maximum", "at least minimum"),
    ("min-items-above-max-items", obj(a={"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 1}), "/properties/a/maxItems", "less than minItems"),
    ("additional-properties-wrong", {**obj(a={"type": "string"}), "additionalProperties": "no"}, "/additionalProperties", "true, false or a schema"),
    ("bad-nested-object-field", obj(a=obj(b={"type": "number", "minimum": 1, "maximum": 0})), "/properties/a/properties/b/maximum", "at least minimum"),
    ("nested-required-not-a-property", obj(a={**obj(b={"type": "string"}), "required": ["c"]}), "/properties/a/required/0", "'c' is required"),
    ("defs-not-at-root", obj(a={"type": "object", "$defs": {}}), "/properties/a/$defs", "only allowed at the root"),
    ("ref-to-missing-definition", obj(a={"$ref": "#/$defs/nope"}), "/properties/a/$ref", "not defined"),
    ("ref-outside-defs", obj(a={"$ref": "https://example.com/schema"}), "/properties/a/$ref", "must point into this schema's $defs"),
    ("ref-with-siblings", {**obj(a={"$ref": "#/$defs/x", "type": "string"}), "$defs": {"x": {"type": "string"}}}, "/properties/a/$ref", "can only be combined"),
    ("recursive-ref", {**obj(a={"$ref": "#/$defs/node"}), "$defs": {"node": obj(child={"$ref": "#/$defs/node"})}}, "/$defs/node", "recursive"),
    ("any-of-empty", obj(a={"anyOf": []}), "/properties/a/anyOf", "non-empty list"),
    ("bad-any-of-member", obj(a={"anyOf": [{"type": "string"}, {"type": "nope"}]}), "/properties/a/anyOf/1/type", "is not a type"),
    ("default-does-not-fit", obj(a={"type": "integer", "minimum": 0, "default": -1}), "/properties/a/default", "does not fit"),
    ("description-not-text", obj(a={"type": "string", "description": 5}), "/properties/a/description", "must be text"),
    ("not-json-numbers", obj(a={"type": "number", "maximum": float("inf")}), "", "only JSON values"),
]


@pytest.mark.parametrize(("schema", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_it_rejects_with_the_path_and_plain_words(schema, path, words):
    assert_single_error(schema, path, words)


def test_it_rejects_a_schema_nested_too_deeply():
    schema: dict = {"type": "object"}
    node = schema
    for _ in range(MAX_DEPTH):
        node["properties"] = {"a": {"type": "object"}}
        node = node["properties"]["a"]

    assert_single_error(schema, "", "nested too deeply")


def test_it_rejects_a_schema_that_is_too_large():
    schema = obj(**{f"field_{i}": {"type": "string", "description": "x" * 1000} for i in range(150)})

    assert_single_error(schema, "", "too large")


def test_it_survives_nesting_far_beyond_the_recursion_limit():
    schema: dict = {"type": "object"}
    node = schema
    for _ in range(100_000):
        node["properties"] = {"a": {}}
        node = node["properties"]["a"]

    assert_single_error(schema, "", "nested too deeply")


def test_it_reports_several_errors_together():
    schema = {
        **obj(
            confidence={"type": "number", "minimum": 0, "maximum": -1},
            ticker={"type": "string", "pattern": "("},
            side={"enum": ["buy", 1]},
        ),
        "required": ["missing"],
    }

    assert [path for path, _ in errors_of(schema)] == [
        "/properties/confidence/maximum",
        "/properties/ticker/pattern",
        "/properties/side/enum",
        "/required/0",
    ]


def test_the_service_error_names_the_field_and_lists_every_problem():
    with pytest.raises(ValidationError) as caught:
        validate_schema(obj(a={"type": "strin"}, b={"type": "number", "minimum": 1, "maximum": 0}))

    assert caught.value.message_dict == {
        "response_schema": [
            '/properties/a/type: "strin" is not a type; use one of: string, number, integer, boolean, array, object, null.',
            "/properties/b/maximum: maximum (0) must be at least minimum (1); no number can satisfy both.",
        ]
    }


def test_an_error_prints_as_path_and_message():
    assert str(SchemaError("", "Bad.")) == "/: Bad."
    assert str(SchemaError("/a", "Bad.")) == "/a: Bad."
