"""The graph of a schema's $defs (which definition's $ref names which) and what is
measured over it: the definitions on a cycle, an order with each after those it uses,
the size of the schema with every $ref written out, and the smallest answer it allows.
Each is linear in the schema's size: a definition is measured once, however often used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agents_llm.output_schema.rules import MAX_ANSWER_CHARS, MAX_EXPANDED_NODES, canonical, is_count, unescape


def refs_in(schema: Any) -> Iterator[str]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                yield unescape(ref.removeprefix("#/$defs/"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def names_on_cycles(graph: dict[str, list[str]]) -> set[str]:
    """Names that can reach themselves (Tarjan's strongly connected components,
    iterative so a long chain cannot exhaust the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[str] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            name, i = work.pop()
            if i == 0:
                index[name] = low[name] = len(index)
                stack.append(name)
                on_stack.add(name)
            targets = graph[name]
            if i < len(targets):
                work.append((name, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[name] = min(low[name], index[target])
                continue
            if low[name] == index[name]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                if len(component) > 1 or name in graph[name]:
                    found.update(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return found


def def_order(graph: dict[str, list[str]]) -> list[str]:
    """Definitions (an acyclic graph here) each after every definition it refers to."""
    order: list[str] = []
    done: set[str] = set()
    for start in graph:
        work = [(start, False)]
        while work:
            name, expanded = work.pop()
            if expanded:
                if name not in done:
                    done.add(name)
                    order.append(name)
                continue
            if name in done:
                continue
            work.append((name, True))
            work.extend((t, False) for t in graph[name] if t not in done)
    return order


def expanded_size(root: dict[str, Any], defs: dict[str, Any], graph: dict[str, list[str]]) -> int:
    """How many dict nodes the schema has once every $ref is inlined (defs form a DAG
    here). Linear: each definition's size is computed once."""
    sizes: dict[str, int] = {}

    def own(node: Any) -> tuple[int, list[str]]:
        count, refs, todo = 0, [], [node]
        while todo:
            item = todo.pop()
            if isinstance(item, dict):
                count += 1
                ref = item.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/$defs/"):
                    refs.append(unescape(ref.removeprefix("#/$defs/")))
                todo.extend(v for k, v in item.items() if k != "$defs")
            elif isinstance(item, list):
                todo.extend(item)
        return count, refs

    for name in def_order(graph):
        count, refs = own(defs[name])
        sizes[name] = min(count + sum(sizes.get(r, 0) for r in refs), MAX_EXPANDED_NODES + 1)
    count, refs = own({k: v for k, v in root.items() if k != "$defs"})
    return count + sum(sizes.get(r, 0) for r in refs)


def min_answer_chars(node: Any, defs: dict[str, int]) -> int:
    """Roughly the fewest characters of JSON an answer to `node` with every field can
    have (minItems and minLength add up). Optional fields and every option of a choice
    count: the offline provider may fill in any of them."""
    if not isinstance(node, dict):
        return 0
    ref = node.get("$ref")
    if isinstance(ref, str):
        return defs.get(unescape(ref.removeprefix("#/$defs/")), 0)
    if "const" in node:
        return len(canonical(node["const"]))
    if isinstance(node.get("enum"), list) and node["enum"]:
        return min(len(canonical(v)) for v in node["enum"])
    if isinstance(node.get("anyOf"), list) and node["anyOf"]:
        return max(min_answer_chars(sub, defs) for sub in node["anyOf"])
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    sizes = []
    for kind in kinds:
        if kind == "string":
            sizes.append(2 + _count(node.get("minLength")))
        elif kind == "array":
            sizes.append(2 + _count(node.get("minItems")) * (1 + min_answer_chars(node.get("items"), defs)))
        elif kind == "object":
            props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
            sizes.append(2 + sum(4 + len(n) + min_answer_chars(sub, defs) for n, sub in props.items()))
        else:
            sizes.append(1)
    return min(max(sizes, default=1), MAX_ANSWER_CHARS + 1)


def _count(value: Any) -> int:
    return value if is_count(value) else 0
