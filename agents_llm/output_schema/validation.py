"""Checking an answer against its output schema: jsonschema with the formats the rules
allow, `pattern` matched by RE2 (`linear_regex`, linear time, so no answer can tie up a
worker), and `deadline`, within which a check stops once the run's timeout has passed.

`instance_validator` builds the validator for a schema; `instance_errors` lists what an
answer gets wrong, sorted by path and capped at MAX_ERRORS.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, time
from time import monotonic
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import re2

from agents_llm.output_schema.rules import DIALECTS, MAX_ERRORS, SchemaError, pointer

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


_ANSWER_VALIDATORS = {cls: _answer_validator_class(cls) for cls in {*DIALECTS.values()}}
# Past this many, further errors of one answer are not even collected.
MAX_COLLECTED_ERRORS = 1_000


def instance_validator(schema: dict[str, Any], cls: type[jsonschema.protocols.Validator]) -> jsonschema.protocols.Validator:
    return _ANSWER_VALIDATORS.get(cls, cls)(schema, format_checker=FORMAT_CHECKER)


_CLIENT_VALIDATORS: dict[type, type[jsonschema.protocols.Validator]] = {}


def answer_validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator of answers for any JSON Schema a client sends (any draft, 2020-12 by
    default; jsonschema.SchemaError when it is not one): its `pattern`s run on RE2, in
    time linear in the answer, and a `deadline` stops it. A pattern RE2 cannot run is
    the client's to fix: see `unrunnable_pattern`."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    extended = _CLIENT_VALIDATORS.get(cls)
    if extended is None:
        extended = _CLIENT_VALIDATORS[cls] = _answer_validator_class(cls)
    return extended(schema, format_checker=cls.FORMAT_CHECKER)


def unrunnable_pattern(schema: Any) -> str | None:
    """The first `pattern` (or `patternProperties` key) of `schema` that RE2 cannot run
    (lookaround, backreferences), or None."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            patterns = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            if isinstance(node.get("patternProperties"), dict):
                patterns += list(node["patternProperties"])
            for pattern in patterns:
                try:
                    linear_regex(pattern)
                except re2.error:
                    return pattern
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def instance_errors(validator: jsonschema.protocols.Validator, data: Any) -> list[SchemaError]:
    found = itertools.islice(validator.iter_errors(data), MAX_COLLECTED_ERRORS)
    errors = sorted(found, key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [SchemaError(pointer(*e.absolute_path), e.message) for e in errors[:MAX_ERRORS]]
