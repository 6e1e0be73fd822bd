"""Property tests: whatever the builder's data model produces validates, compiles, and every
instance of the compiled type is valid under the JSON Schema; garbage never crashes the validator.

The builder's own model code (static/schema_builder/model.js) turns the generated cards into
schemas, run by Node.js (on the machine image; the test fails without it).
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

from agents_llm import output_schema
from agents_llm.output_schema import FORMATS, compile_output_type, schema_errors
from agents_llm.seed_data import TASKS

CLI = Path(__file__).with_name("schema_model_cli.js")
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)


class ModelBridge:
    def __init__(self) -> None:
        node = shutil.which("node") or shutil.which("nodejs")
        assert node, "Node.js is needed to run the schema builder's model code"
        self.proc = subprocess.Popen(
            [node, str(CLI)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def bridge() -> Iterator[ModelBridge]:
    b = ModelBridge()
    yield b
    b.close()


# The cards, as the builder's inputs can fill them (model.js newField) ---------------------

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,9}", fullmatch=True)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20)
PATTERNS = ["^[A-Z]{1,5}$", "^[a-z]+$", r"^\d{3}-\d{4}$", "^(buy|sell)$"]
NUMBERS = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3))


@st.composite
def string_card(draw) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "string"}
    kind = draw(st.sampled_from(["plain", "enum", "lengths", "pattern", "format"]))
    if kind == "enum":
        card["enum"] = draw(st.lists(TEXT, min_size=1, max_size=4, unique=True))
    elif kind == "lengths":
        lo, hi = sorted(draw(st.lists(st.integers(0, 30), min_size=2, max_size=2)))
        card["minLength"] = draw(st.sampled_from([lo, None]))
        card["maxLength"] = draw(st.sampled_from([hi, None]))
    elif kind == "pattern":
        card["pattern"] = draw(st.sampled_from(PATTERNS))
    elif kind == "format":
        card["format"] = draw(st.sampled_from(FORMATS))
    return card


@st.composite
def number_card(draw, type_: str) -> dict[str, Any]:
    card: dict[str, Any] = {"type": type_}
    values = st.integers(-1000, 1000) if type_ == "integer" else NUMBERS
    if draw(st.booleans()):
        card["enum"] = draw(st.lists(values, min_size=1, max_size=4, unique=True))
        return card
    lo, hi = sorted(draw(st.lists(values, min_size=2, max_size=2, unique=True)))
    if type_ == "integer":
        hi = max(hi, lo + 2)  # room for a whole number between exclusive bounds
    if draw(st.booleans()):
        card["minimum"], card["minimumExclusive"] = lo, draw(st.booleans())
    if draw(st.booleans()):
        card["maximum"], card["maximumExclusive"] = hi, draw(st.booleans())
    return card


def card_body(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    options = [string_card(), number_card("number"), number_card("integer"), st.just({"type": "boolean"})]
    if depth < 3:
        options += [array_card(depth), object_card(depth)]
    return st.one_of(options)


@st.composite
def array_card(draw, depth: int) -> dict[str, Any]:
    item = {**draw(card_body(depth + 1)), "name": "", "required": False, "nullable": draw(st.booleans())}
    lo, hi = sorted(draw(st.lists(st.integers(0, 4), min_size=2, max_size=2)))
    return {
        "type": "array", "items": item,
        "minItems": draw(st.sampled_from([lo, None])), "maxItems": draw(st.sampled_from([hi, None])),
    }


@st.composite
def named_cards(draw, depth: int) -> list[dict[str, Any]]:
    names = draw(st.lists(NAMES, max_size=4 if depth == 0 else 3, unique=True))
    return [
        {
            **draw(card_body(depth + 1)),
            "name": name,
            "required": draw(st.booleans()),
            "nullable": draw(st.booleans()),
            "description": draw(st.sampled_from(["", "What the model should say."])),
        }
        for name in names
    ]


@st.composite
def object_card(draw, depth: int) -> dict[str, Any]:
    return {"type": "object", "fields": draw(named_cards(depth)), "additional": draw(st.sampled_from([False, True]))}


@st.composite
def root_card(draw) -> dict[str, Any]:
    return {"type": "object", "name": "", "fields": draw(named_cards(0)), "additional": draw(st.sampled_from([False, True, None]))}


# Instances of a compiled type, drawn from the schema the model is shown -------------------

FORMAT_VALUES = {
    "date": st.dates().map(lambda d: d.isoformat()),
    "date-time": st.datetimes(timezones=st.just(datetime.UTC)).map(
        lambda d: d.isoformat().replace("+00:00", "Z")
    ),
    "time": st.times().map(lambda t: t.isoformat() + "Z"),
    "email": st.emails(),
    "uri": st.from_regex(r"https://[a-z]{1,10}\.com/[a-z0-9]{0,10}", fullmatch=True),
    "uuid": st.uuids().map(str),
    "ipv4": st.ip_addresses(v=4).map(str),
    "ipv6": st.ip_addresses(v=6).map(str),
}


def instances_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:  # noqa: C901 - one branch per keyword
    """Values admitted by a schema of the builder's subset, as the model is shown it."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([instances_of({**{k: v for k, v in schema.items() if k != "anyOf"}, **sub}) for sub in schema["anyOf"]])
    kind = schema["type"]
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        lo = schema.get("minimum", schema.get("exclusiveMinimum", None))
        hi = schema.get("maximum", schema.get("exclusiveMaximum", None))
        lo = None if lo is None else (int(lo) + 1 if "exclusiveMinimum" in schema else int(lo))
        hi = None if hi is None else (int(hi) - 1 if "exclusiveMaximum" in schema else int(hi))
        return st.integers(lo, hi)
    if kind == "number":
        return st.floats(
            min_value=schema.get("minimum", schema.get("exclusiveMinimum")),
            max_value=schema.get("maximum", schema.get("exclusiveMaximum")),
            exclude_min="exclusiveMinimum" in schema, exclude_max="exclusiveMaximum" in schema,
            allow_nan=False, allow_infinity=False,
        )
    if kind == "string":
        if "format" in schema:
            return FORMAT_VALUES[schema["format"]]
        if "pattern" in schema:
            # As in JSON Schema (ECMA-262, and RE2 that checks answers), unlike Python's
            # re: `$` does not match before a final newline and `\d` means [0-9].
            return st.from_regex(re.compile(schema["pattern"], re.ASCII), fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength"))
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(instances_of(schema["items"]), min_size=low, max_size=schema.get("maxItems", max(3, low)))
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {k: instances_of(v) for k, v in props.items() if k in required},
        optional={k: instances_of(v) for k, v in props.items() if k not in required},
    )


@pytest.mark.parametrize("task", TASKS, ids=[t["name"] for t in TASKS])
def test_every_seed_schema_loads_into_cards_and_saves_back_unchanged(bridge, task):
    reply = bridge.call({"op": "toModel", "schema": task["response_schema"]})

    assert reply["problems"] == []
    assert reply["back"] == task["response_schema"]


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "object", "$defs": {}, "properties": {}}, "$defs"),
        ({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}}, "has no type"),
        ({"type": "object", "properties": {"a": {"type": ["string", "integer"]}}}, "list of types"),
        ({"type": "object", "properties": {"a": {"type": "number", "minimum": 0, "exclusiveMinimum": 0}}}, "both"),
        ({"type": "object", "properties": {"a": {"type": "object", "additionalProperties": {"type": "string"}}}}, "is a schema"),
    ],
)
def test_a_schema_the_cards_cannot_show_is_named_as_such(bridge, schema, problem):
    reply = bridge.call({"op": "toModel", "schema": schema})

    assert reply["back"] is None
    assert any(problem in p for p in reply["problems"]), reply["problems"]


def test_plain_test_model_output_validates_where_it_can_generate(bridge):
    """TestModel knows no patterns or formats; for everything else its output must pass."""
    model = {"type": "object", "name": "", "fields": [
        {"name": "n", "type": "integer", "minimum": 1, "maximum": 3},
        {"name": "x", "type": "number", "minimum": 0, "minimumExclusive": True, "nullable": True},
        {"name": "tags", "type": "array", "items": {"name": "", "type": "string", "maxLength": 5}, "maxItems": 2},
    ]}
    schema = bridge.call({"op": "toSchema", "model": model})["schema"]
    compiled = compile_output_type(schema)

    output = Agent(TestModel(), output_type=compiled.output_type).run_sync("go").output

    assert compiled.validate(output) == []


@PROPERTY_SETTINGS
@given(model=root_card(), data=st.data())
def test_any_schema_the_builder_makes_validates_compiles_and_admits_only_valid_instances(bridge, model, data):
    schema = bridge.call({"op": "toSchema", "model": model})["schema"]

    assert schema_errors(schema) == []
    reloaded = bridge.call({"op": "toModel", "schema": schema})
    assert reloaded["problems"] == []
    assert reloaded["back"] == schema  # loading the cards and saving them gives the same schema

    compiled = compile_output_type(schema)
    adapter = TypeAdapter(compiled.output_type)
    instances = [compiled.example(seed) for seed in range(2)]
    instances += [data.draw(instances_of(compiled.json_schema), label="instance") for _ in range(2)]
    for instance in instances:
        jsonschema.validate(instance, schema, format_checker=output_schema.FORMAT_CHECKER)
        assert compiled.validate(instance) == []
        assert adapter.validate_python(instance) == instance


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(sorted(output_schema.SUPPORTED_KEYWORDS | {"$schema", "oneOf", ""})) | st.text(max_size=4),
        children,
        max_size=5,
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(schema=JSON_VALUES)
def test_garbage_never_crashes_the_validator(schema):
    errors = schema_errors(schema)

    assert all(isinstance(e.path, str) and e.msg for e in errors)
    if not errors:  # whatever passes must compile
        compile_output_type(schema)


@settings(max_examples=100, deadline=None)
@given(properties=st.dictionaries(NAMES, JSON_VALUES, max_size=4))
def test_garbage_fields_never_crash_the_validator(properties):
    schema = {"type": "object", "properties": properties}

    errors = schema_errors(schema)

    assert all(e.path.startswith("/properties/") for e in errors)
    if not errors:
        compile_output_type(schema)
