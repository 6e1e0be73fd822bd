"""Task output schemas: linted before they are saved, compiled into a PydanticAI output type.

A task's `response_schema` is a JSON Schema (draft-07 or 2020-12, 2020-12 when `$schema`
is absent) inside the subset that LLM structured output supports. The modules, each
using only those before it:

    rules.py       what a schema may contain and how large it may be; SchemaError
    validation.py  checking an answer against a schema: RE2 patterns, `deadline`
    graph.py       the $defs graph: cycles, size with every $ref written out, smallest answer
    linting.py     `schema_errors` / `validate_schema`: every problem, with its JSON pointer
    examples.py    schema-valid instances for the offline provider (`random_instance`)
    compiling.py   `compile_output_type` -> CompiledOutput, cached per process

Other code imports only the names below, from this package.
"""

from __future__ import annotations

from agents_llm.output_schema.compiling import (
    CompiledOutput,
    OutputSchemaError,
    clear_compile_cache,
    compile_output_type,
)
from agents_llm.output_schema.examples import random_instance
from agents_llm.output_schema.linting import schema_errors, validate_schema
from agents_llm.output_schema.rules import (
    FORMATS,
    MAX_ANSWER_CHARS,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_SCHEMA_CHARS,
    SUPPORTED_KEYWORDS,
    SchemaError,
    schema_hash,
)
from agents_llm.output_schema.validation import (
    FORMAT_CHECKER,
    OutputValidationTimeout,
    answer_validator,
    deadline,
    unrunnable_pattern,
)

__all__ = [
    "FORMATS", "FORMAT_CHECKER", "MAX_ANSWER_CHARS", "MAX_DEPTH", "MAX_EXPANDED_NODES", "MAX_SCHEMA_CHARS",
    "SUPPORTED_KEYWORDS", "answer_validator", "unrunnable_pattern", "CompiledOutput", "OutputSchemaError", "OutputValidationTimeout", "SchemaError",
    "clear_compile_cache", "compile_output_type", "deadline", "random_instance", "schema_errors", "schema_hash",
    "validate_schema",
]
