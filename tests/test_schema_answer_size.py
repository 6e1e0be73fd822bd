"""A schema whose smallest answer no LLM could write (huge minItems or minLength) is
refused when saved: an offline run of `minItems: 2000000` produced 36.7 MB."""

from __future__ import annotations

import pytest

from agents_llm.models import TaskConfig
from agents_llm.output_schema import MAX_ANSWER_CHARS, schema_errors
from tests.api_support import as_editor, assert_error_shape  # noqa: F401


def obj(required: bool = True, **props) -> dict:
    return {"type": "object", "properties": props, **({"required": list(props)} if required else {})}


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(obj(a={"type": "array", "items": {"type": "integer"}, "minItems": 2_000_000}), id="minItems"),
        pytest.param(obj(required=False, a={"type": "array", "items": {"type": "integer"}, "minItems": 2_000_000}), id="optional"),
        pytest.param(obj(a={"type": "string", "minLength": MAX_ANSWER_CHARS + 1}), id="minLength"),
        pytest.param(obj(a={"anyOf": [{"type": "string", "minLength": 10**6}, {"type": "integer"}]}), id="one-option"),
        pytest.param(
            obj(a={"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000, "items": {"type": "string"}}}),
            id="nested",
        ),
        pytest.param(
            {**obj(a={"$ref": "#/$defs/big"}), "$defs": {"big": {"type": "array", "items": {"type": "string", "minLength": 1000}, "minItems": 1000}}},
            id="through-a-ref",
        ),
    ],
)
def test_a_schema_whose_smallest_answer_is_too_big_is_refused(schema):
    errors = schema_errors(schema)

    assert [e.path for e in errors] == [""]
    assert "more than an LLM answer can hold" in errors[0].msg


def test_it_is_refused_over_the_api_and_not_stored(as_editor):
    schema = obj(a={"type": "array", "items": {"type": "integer"}, "minItems": 2_000_000})

    response = as_editor.post("/tasks", {"name": "huge", "prompt_template": "p", "response_schema": schema})

    assert_error_shape(response, 422)
    assert not TaskConfig.objects.filter(name="huge").exists()


def test_sizes_an_llm_can_write_are_fine():
    schema = obj(
        items={"type": "array", "items": {"type": "string", "minLength": 10}, "minItems": 100, "maxItems": 10**9},
        note={"type": "string", "minLength": 2000},
        choice={"anyOf": [{"type": "string", "minLength": 100}, {"type": "integer"}]},
    )

    assert schema_errors(schema) == []
