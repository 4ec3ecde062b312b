"""The layers of watcher/ only look down, and no import runs in a circle (docs/architecture.md).

Every import counts: at module level, inside a function, and under TYPE_CHECKING, because a
cycle hidden in a function is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

import pytest

WATCHER = Path(__file__).resolve().parents[2] / "watcher"

#: The floors, lowest first. A module may import its own floor and the floors below it.
#: A module is on the floor of the longest package or module listed here (`watcher` itself is
#: only the package's __init__: a new top-level module must be placed).
FLOORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model", ("watcher", "watcher.model")),
    ("core", ("watcher.decide",)),
    ("utilities", ("watcher.clock", "watcher.observe.logs", "watcher.exit_codes")),
    ("edges", ("watcher.config", "watcher.aws", "watcher.sandbox")),
    ("journal", ("watcher.journal", "watcher.ha")),
    ("gather", ("watcher.inventory", "watcher.budget_spend", "watcher.limit_ledger")),
    ("act", ("watcher.act",)),
    ("report", ("watcher.results", "watcher.report", "watcher.notify", "watcher.observe")),
    ("cycle", ("watcher.reconcile", "watcher.survey", "watcher.history")),
    ("entry", ("watcher.app", "watcher.explain", "watcher.daemon", "watcher.demo")),
    ("command line", ("watcher.cli", "watcher.__main__")),
)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(WATCHER.rglob("*.py")):
        parts = path.relative_to(WATCHER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imported(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from watcher.act import two_person` imports the module watcher.act.two_person.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        yield from (target for target in targets if target in known and target != name)


@cache
def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(_imported(name, path, known)) for name, path in known.items()}


def floor(module: str) -> int:
    best, found = -1, None
    for number, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            inside = prefix != "watcher" and module.startswith(prefix + ".")
            if (module == prefix or inside) and len(prefix) > best:
                best, found = len(prefix), number
    if found is None:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS (and docs)")
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(graph[node]):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_walk_sees_imports_of_every_kind() -> None:
    graph = import_graph()
    assert "watcher.journal.records" in graph["watcher.journal.sqlite"]  # module level
    assert "watcher.cli.ops" in graph["watcher.cli.main"]  # inside a function
    assert "watcher.act.two_person" in graph["watcher.act.approvals"]  # from a package


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_in_watcher() -> None:
    found = cycles(import_graph())
    assert found == [], f"modules that import each other, directly or around a circle: {found}"


@pytest.mark.parametrize("module", sorted(modules()))
def test_a_module_imports_only_its_own_floor_and_below(module: str) -> None:
    mine = floor(module)
    upward = sorted(
        f"{other} ({FLOORS[floor(other)][0]})"
        for other in import_graph()[module]
        if floor(other) > mine
    )
    assert upward == [], f"{module} ({FLOORS[mine][0]}) imports from above: {upward}"


def test_the_core_imports_only_the_domain_values() -> None:
    for module, imported in import_graph().items():
        if floor(module) == 1:
            outside = {m for m in imported if floor(m) != 1 and m != "watcher.model"}
            assert outside == set(), f"{module} imports {sorted(outside)}"
