"""Building instances of a schema, for the offline provider's answers: `Example` draws
them from a seeded rng (formats, `pattern` through rstr with bounded repeats, number
and length bounds) and gives up after EXAMPLE_SECONDS. It does not check what it
builds; callers validate each draw and draw again.

It reads the form the model is shown (compiling.py's `json_schema`: $defs inlined, type
lists as anyOf), or a client's tool schema as the gateway received it.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import random
import uuid
from datetime import date, timedelta
from time import monotonic
from typing import Any

import rstr


class _BoundedXeger(rstr.Rstr):
    """rstr with `*`/`+` repeating at most 20 times (rstr's 100 multiplies per nesting
    level: `(x+)+` made strings of up to 10,000 characters, each try)."""

    def _handle_repeat(self, start_range: int, end_range: int, value: str) -> str:
        return super()._handle_repeat(start_range, max(start_range, min(end_range, EXAMPLE_REPEAT_LIMIT)), value)


EXAMPLE_REPEAT_LIMIT = 20
# Building an example stops after this long (an unsatisfiable pattern would otherwise
# be retried, 50 tries a field, 20 examples over).
EXAMPLE_SECONDS = 1.0


def random_instance(schema: dict[str, Any], rng: random.Random) -> Any:
    """One instance of `schema` drawn from `rng`, not checked against it (callers
    validate and draw again). ValueError when building it takes over EXAMPLE_SECONDS."""
    return Example(rng).gen(schema)


class Example:
    """Draws instances from `rng`; all draws of one Example share one EXAMPLE_SECONDS."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.xeger = _BoundedXeger(rng)
        self.until = monotonic() + EXAMPLE_SECONDS

    def gen(self, node: Any) -> Any:  # noqa: C901
        r = self.rng
        if not isinstance(node, dict):
            return None
        if "const" in node:
            return copy.deepcopy(node["const"])
        if "enum" in node:
            return copy.deepcopy(r.choice(node["enum"]))
        if "allOf" in node:
            return self.gen(node["allOf"][0])
        if "anyOf" in node:
            return self.gen({**{k: v for k, v in node.items() if k != "anyOf"}, **r.choice(node["anyOf"])})
        kind = node.get("type")
        if kind == "object":
            props = node.get("properties", {})
            required = set(node.get("required", []))
            return {name: self.gen(sub) for name, sub in props.items() if name in required or r.random() < 0.7}
        if kind == "array":
            lo = node.get("minItems", 0)
            hi = node.get("maxItems", max(lo, 3))
            return [self.gen(node.get("items", {"type": "string"})) for _ in range(r.randint(lo, min(hi, max(lo, 3))))]
        if kind == "string":
            return self.string(node)
        if kind == "integer":
            lo, hi = _int_bounds(node)
            if lo is None and hi is None:
                return r.randint(0, 100)
            if lo is None:
                return hi - r.randint(0, 10)
            if hi is None:
                return lo + r.randint(0, 10)
            return r.randint(lo, hi)
        if kind == "number":
            lo = _first(node, "minimum", "exclusiveMinimum", max)
            hi = _first(node, "maximum", "exclusiveMaximum", min)
            if lo is None and hi is None:
                return round(r.uniform(-100, 100), 3)
            if lo is None:
                return float(hi) - 1 - r.random()
            if hi is None:
                return float(lo) + 1 + r.random()
            value = lo + (hi - lo) * (0.1 + 0.8 * r.random())
            return value if lo < value < hi else (lo + hi) / 2
        if kind == "boolean":
            return r.random() < 0.5
        return None

    def string(self, node: dict[str, Any]) -> str:
        r = self.rng
        lo, hi = node.get("minLength", 0), node.get("maxLength")
        fmt = node.get("format")
        if fmt is not None:
            text = _format_example(fmt, r)
        elif "pattern" in node:
            pattern = node["pattern"]
            text = "x"
            for _ in range(50):
                if monotonic() > self.until:
                    raise ValueError("Building an example for this schema took too long.")
                try:
                    text = self.xeger.xeger(pattern)
                except Exception:  # a construct rstr cannot generate (e.g. lookarounds)
                    break
                if len(text) >= lo and (hi is None or len(text) <= hi):
                    return text
            return text
        else:
            words = ["alpha", "beta", "gamma", "delta", "market", "signal", "trend"]
            text = " ".join(r.choice(words) for _ in range(r.randint(1, 4)))
        if len(text) < lo:
            text = text + "x" * (lo - len(text))
        if hi is not None and len(text) > hi:
            text = text[:hi]
        return text


def _first(node: dict[str, Any], inclusive: str, exclusive: str, pick: Any) -> float | None:
    values = [node[k] for k in (inclusive, exclusive) if k in node]
    return pick(values) if values else None


def _int_bounds(node: dict[str, Any]) -> tuple[int | None, int | None]:
    lows = []
    if "minimum" in node:
        lows.append(math.ceil(node["minimum"]))
    if "exclusiveMinimum" in node:
        lows.append(math.floor(node["exclusiveMinimum"]) + 1)
    highs = []
    if "maximum" in node:
        highs.append(math.floor(node["maximum"]))
    if "exclusiveMaximum" in node:
        highs.append(math.ceil(node["exclusiveMaximum"]) - 1)
    return (max(lows) if lows else None, min(highs) if highs else None)


def _format_example(fmt: str, r: random.Random) -> str:
    day = date(2024, 1, 1) + timedelta(days=r.randrange(365))
    return {
        "date": day.isoformat(),
        "date-time": f"{day.isoformat()}T{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
        "time": f"{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
        "email": f"analyst{r.randrange(100)}@example.com",
        "uri": f"https://example.com/{r.randrange(1000)}",
        "uuid": str(uuid.UUID(int=r.getrandbits(128), version=4)),
        "ipv4": str(ipaddress.IPv4Address(r.getrandbits(32))),
        "ipv6": str(ipaddress.IPv6Address(r.getrandbits(128))),
    }.get(fmt, "x")
