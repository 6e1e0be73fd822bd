"""The limits of docs/ARCHITECTURE.md that import-linter does not check: no import
circles but an actor and the service it enqueues, few modules at the app's top, and
no source module over 600 lines (seed data aside)."""

from __future__ import annotations

from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("tradingagents", "providers", "agents_llm")
# An actor imports the service it calls, and the service the actor it enqueues (lazily).
ACTOR_AND_SERVICE = [
    {"agents_llm.runs.actors", "agents_llm.runs.runner"},
    {"providers.tasks", "providers.validation"},
]


def _circles() -> list[set[str]]:
    graph = grimp.build_graph(*PACKAGES)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    found: list[set[str]] = []
    seen: set[str] = set()
    for module in sorted(edges):
        if module in seen:
            continue
        # The modules that reach `module` and that it reaches: its strongly connected set.
        reached = graph.find_downstream_modules(module) | {module}
        circle = {other for other in reached if module in graph.find_downstream_modules(other)}
        if circle:
            circle.add(module)
            seen |= circle
            found.append(circle)
    return found


def test_the_only_import_circles_are_an_actor_and_the_service_it_enqueues():
    assert sorted(map(sorted, _circles())) == sorted(map(sorted, ACTOR_AND_SERVICE))


def test_the_app_has_at_most_twelve_modules_at_its_top():
    top = sorted(path.name for path in (ROOT / "agents_llm").glob("*.py"))

    assert len(top) <= 12, top


def test_no_source_module_is_over_600_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and path.name != "seed_data.py"
        and (n := len(path.read_text().splitlines())) > 600
    }

    assert long == {}
