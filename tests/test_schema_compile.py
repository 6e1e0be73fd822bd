"""Compiling a stored output schema into a PydanticAI output type."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from agents_llm import output_schema
from agents_llm.output_schema import OutputSchemaError, compile_output_type, schema_hash
from agents_llm.seed_data import TASKS

SEED_SCHEMAS = [pytest.param(t["response_schema"], id=t["name"]) for t in TASKS]

SIGNAL_SCHEMA = {
    "type": "object",
    "properties": {
        "signal": {"type": "string", "enum": ["buy", "hold", "sell"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["signal", "confidence"],
    "additionalProperties": False,
}


@pytest.fixture(autouse=True)
def empty_cache():
    output_schema.clear_compile_cache()
    yield
    output_schema.clear_compile_cache()


def scripted_model(answers: list[dict], seen: list[list[ModelMessage]]) -> FunctionModel:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(messages)
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, answers[len(seen) - 1])])

    return FunctionModel(respond)


@pytest.mark.parametrize("schema", SEED_SCHEMAS)
def test_every_seed_schema_compiles_and_its_example_is_valid(schema):
    compiled = compile_output_type(schema)

    example = compiled.example()
    assert compiled.validate(example) == []
    jsonschema.validate(example, schema, format_checker=output_schema.FORMAT_CHECKER)


@pytest.mark.parametrize("schema", SEED_SCHEMAS)
def test_the_offline_test_model_answers_every_seed_task_with_schema_valid_output(schema):
    compiled = compile_output_type(schema)
    agent = Agent(TestModel(custom_output_args=compiled.example(seed=3)), output_type=compiled.output_type)

    output = agent.run_sync("go").output

    assert compiled.validate(output) == []


def test_the_model_is_shown_the_schema_with_type_lists_as_any_of():
    compiled = compile_output_type(TASKS[5]["response_schema"])  # trade-proposal: ["number", "null"]

    limit_price = compiled.json_schema["properties"]["limit_price"]

    assert limit_price == {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]}
    assert "$schema" not in compiled.json_schema


def test_plain_test_model_output_is_valid_for_a_schema_without_patterns():
    compiled = compile_output_type(TASKS[7]["response_schema"])  # portfolio-decision

    output = Agent(TestModel(), output_type=compiled.output_type).run_sync("go").output

    assert compiled.validate(output) == []


def test_defs_are_inlined_for_the_model_and_still_validated():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"level": {"type": "integer", "minimum": 1, "maximum": 5}},
        "properties": {"risk": {"$ref": "#/$defs/level", "description": "How risky."}},
        "required": ["risk"],
    }
    compiled = compile_output_type(schema)

    assert compiled.json_schema["properties"]["risk"] == {
        "type": "integer", "minimum": 1, "maximum": 5, "description": "How risky.",
    }
    assert compiled.validate({"risk": 9}) == [output_schema.SchemaError("/risk", "9 is greater than the maximum of 5")]


def test_an_invalid_answer_goes_back_to_the_model_with_the_errors_and_their_paths():
    compiled = compile_output_type(SIGNAL_SCHEMA)
    seen: list[list[ModelMessage]] = []
    model = scripted_model([{"signal": "buy", "confidence": 1.5}, {"signal": "buy", "confidence": 0.5}], seen)

    output = Agent(model, output_type=compiled.output_type, retries={"output": 2}).run_sync("go").output

    assert output == {"signal": "buy", "confidence": 0.5}
    retry = seen[1][-1]
    assert isinstance(retry, ModelRequest)
    part = retry.parts[0]
    assert isinstance(part, ToolReturnPart)
    assert "/confidence: 1.5 is greater than the maximum of 1" in str(part.content)


def test_a_model_that_keeps_answering_wrong_fails_the_run():
    compiled = compile_output_type(SIGNAL_SCHEMA)
    model = scripted_model([{"signal": "maybe", "confidence": 0.5, "extra": 1}] * 3, [])

    with pytest.raises(UnexpectedModelBehavior):
        Agent(model, output_type=compiled.output_type, retries={"output": 1}).run_sync("go")


def test_validation_is_strict_about_types_and_formats():
    compiled = compile_output_type({
        "type": "object",
        "properties": {"n": {"type": "integer"}, "day": {"type": "string", "format": "date"}},
        "required": ["n", "day"],
    })

    assert [e.path for e in compiled.validate({"n": "1", "day": "tomorrow"})] == ["/day", "/n"]
    assert compiled.validate({"n": 1, "day": "2024-02-29"}) == []


def test_the_same_schema_is_compiled_once_even_when_loaded_again():
    first = compile_output_type(SIGNAL_SCHEMA)

    assert compile_output_type(SIGNAL_SCHEMA) is first
    assert compile_output_type(copy.deepcopy(SIGNAL_SCHEMA)) is first
    assert first.hash == schema_hash(dict(reversed(list(SIGNAL_SCHEMA.items()))))


def test_a_schema_changed_in_place_is_compiled_again():
    schema = copy.deepcopy(SIGNAL_SCHEMA)
    first = compile_output_type(schema)

    schema["properties"]["confidence"]["maximum"] = 100

    again = compile_output_type(schema)
    assert again is not first
    assert again.validate({"signal": "buy", "confidence": 50}) == []


def test_the_cache_is_bounded(settings):
    settings.OUTPUT_SCHEMA_CACHE_SIZE = 2
    schemas = [{**SIGNAL_SCHEMA, "title": f"t{i}"} for i in range(3)]
    first = compile_output_type(schemas[0])
    second = compile_output_type(schemas[1])
    third = compile_output_type(schemas[2])

    assert compile_output_type(copy.deepcopy(schemas[2])) is third
    assert compile_output_type(copy.deepcopy(schemas[1])) is second
    assert compile_output_type(copy.deepcopy(schemas[0])) is not first


def test_compiling_an_invalid_schema_raises_with_every_error():
    with pytest.raises(OutputSchemaError) as caught:
        compile_output_type({"type": "object", "properties": {"a": {"type": "strin"}}, "required": ["b"]})

    assert [e.path for e in caught.value.errors] == ["/properties/a/type", "/required/0"]
