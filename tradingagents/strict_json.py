"""JSON that every later step can hold: what the JSON API and the OpenAI gateway both
read their bodies with. Numbers must be finite (no NaN or Infinity); every string and
key valid Unicode (a lone surrogate from a `\\udfff` escape is not: no UTF-8 column
and no vendor can take it) and, where it will be stored, free of NUL characters; and
nesting shallow enough for every later step's recursion."""

from __future__ import annotations

import json
import math
from typing import Any

SURROGATE_MSG = "Lone UTF-16 surrogates (e.g. \\udfff) are not allowed: text must be valid Unicode."
NUL_MSG = "NUL characters are not allowed."


class InvalidJSON(ValueError):
    """What is wrong, and where: `loc` is the path of keys and indexes from the top."""

    def __init__(self, loc: list[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _reject_constant(name: str) -> float:
    raise InvalidJSON([], f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJSON([], f"The number {text[:20]} is out of range.")
    return value


def loads(raw: bytes | str) -> Any:
    """json.loads() with finite numbers only: InvalidJSON for NaN, Infinity or a number
    out of range; ValueError (or UnicodeDecodeError) for text that is not JSON."""
    return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)


def text_problem(text: str, *, nul: bool = False) -> str | None:
    """Why this text cannot be taken, or None. `nul`: NUL characters are allowed."""
    if not nul and "\x00" in text:
        return NUL_MSG
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MSG
    return None


def check(data: Any, *, max_depth: int, nul: bool = False) -> None:
    """InvalidJSON naming the first string, key or nesting that cannot be taken.

    One pass over every value with nothing built per value but a small tuple (its
    parent's entry and its key), from which the path is made only for the value that
    fails: a 10,000-property body is checked in a few milliseconds, on the event loop."""
    stack: list[tuple[Any, int, Any, str | int | None]] = [(data, 0, None, None)]
    while stack:
        entry = stack.pop()
        value, depth = entry[0], entry[1]
        if depth > max_depth:
            raise InvalidJSON(_path(entry)[:3], f"The body is nested more than {max_depth} levels deep.")
        if isinstance(value, str):
            problem = text_problem(value, nul=nul)
            if problem:
                raise InvalidJSON(_path(entry), problem)
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key, nul=nul)
                if problem:
                    raise InvalidJSON(_path(entry), problem.replace("not allowed", "not allowed in keys", 1))
                stack.append((item, depth + 1, entry, key))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, entry, index) for index, item in enumerate(value))


def _path(entry: tuple[Any, int, Any, str | int | None]) -> list[str | int]:
    """The keys and indexes from the top down to `entry`'s value."""
    path: list[str | int] = []
    while entry[2] is not None:
        path.append(entry[3])  # type: ignore[arg-type]
        entry = entry[2]
    return path[::-1]
