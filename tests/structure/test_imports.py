"""The shape of the code: no import cycle (not even a type-only one), imports pointing down.

Layers, top to bottom: `cogs` (Discord's side) → the runtime (`bot.bot`, `bot.cli`, ...) →
the store's backends → the domain (`bot.jobs`, `bot.quota`, `bot.aimlapi`) → utilities.
Every `import` statement counts, including those under `if TYPE_CHECKING:` and inside
functions: a cycle that only type checkers see still couples the modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "cogs")
# Packages that know nothing of Discord (nor of the layers above them).
DOMAIN = ("bot.jobs", "bot.quota", "bot.jams", "bot.aimlapi", "bot.store")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            found[module_name(path)] = path
    return found


def imported(path: Path, name: str, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `path` imports (a package's import of `pkg.mod` counts `pkg` too)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target
                # Importing `a.b.c` runs `a/__init__` and `a/b/__init__` first.
                parent = target.rpartition(".")[0]
                while parent:
                    if parent in known and parent != name and not name.startswith(parent + "."):
                        yield parent
                    parent = parent.rpartition(".")[0]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(path, name, known)) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_there_is_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_domain_imports_neither_discord_nor_the_layers_above_it() -> None:
    above = ("cogs", "bot.bot", "bot.cli", "bot.interactions", "bot.tree", "bot.text")
    for name, path in modules().items():
        if not name.startswith(DOMAIN):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for target in names:
                assert not target.startswith("discord"), f"{name} imports {target}"
                assert not target.startswith(above), f"{name} imports {target}"


def test_nothing_in_bot_imports_cogs() -> None:
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("bot"):
            assert not [t for t in targets if t.startswith("cogs")], name


def test_the_store_depends_only_on_the_domain_models() -> None:
    """Backends may read the domain's dataclasses, never its services."""
    models = {
        "bot.jobs",
        "bot.jobs.models",
        "bot.quota",
        "bot.quota.models",
        "bot.jams",
        "bot.jams.models",
        "bot.config",
    }
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("bot.store"):
            extra = {t for t in targets if not t.startswith("bot.store") and t not in models}
            assert extra == set(), f"{name} imports {extra}"
