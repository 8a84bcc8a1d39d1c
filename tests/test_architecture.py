"""The architecture of docs/architecture.md, checked against the code's imports (standard library
ast only): no import cycles, each package imports only its own layer or those below, only the
shared modules at the top of portal/, and thin route handlers."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[1] / "portal"

# From the top down (docs/architecture.md). A package may import its own layer or any below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("app", "cli"),
    ("routes", "web"),
    ("views",),
    ("exports", "marketing", "mock_idp", "mail"),
    ("workflows", "identity", "jobs", "audit"),
    ("datamap",),
    (
        "settings",
        "db",
        "models",
        "i18n",
        "templating",
        "migrations",
        "demo",
        "links",
        "ratelimit",
        "phone_numbers",
        "spreadsheet",
    ),
)
# schema.py gathers every table module for Alembic's metadata: it imports upwards by design.
GATHERERS = {"schema"}
TOP_LEVEL = {"__init__", "app", "settings", "db", "models", "i18n", "templating", "cli"}
TOP_LEVEL |= {"migrations", "schema", "links", "ratelimit", "phone_numbers", "spreadsheet"}
MAX_HANDLER_LINES = 25


def modules() -> dict[str, Path]:
    found = {}
    for path in PORTAL.rglob("*.py"):
        parts = ["portal", *path.relative_to(PORTAL).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(path: Path, name: str, known: dict[str, Path]) -> Iterator[str]:
    """The portal modules ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: -node.level + 1 or None], base]).strip(".")
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports(path, name, known)) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: portal.marketing.block_list ->
    marketing, portal.settings -> settings."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "portal"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert cycles(graph()) == []


def test_each_package_imports_only_its_layer_and_below() -> None:
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}
    units = {unit(module) for module in modules()} - {"portal"}
    assert units - GATHERERS == set(rank), "every package and top-level module has a layer"
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        for target in targets
        if unit(module) not in GATHERERS | {"portal"}
        and unit(target) != "portal"
        and rank[unit(target)] < rank[unit(module)]
    )
    assert upward == []


def test_packages_of_one_layer_do_not_import_each_other_both_ways() -> None:
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        edges.setdefault(unit(module), set()).update(
            unit(t) for t in targets if unit(t) != unit(module)
        )
    for names in LAYERS:
        within = {name: edges.get(name, set()) & set(names) for name in names}
        assert cycles(within) == [], names


def test_only_shared_modules_at_the_top_of_portal() -> None:
    assert {path.stem for path in PORTAL.glob("*.py")} <= TOP_LEVEL


def test_route_handlers_are_thin() -> None:
    long = []
    for path in sorted((PORTAL / "routes").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_HANDLER_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({length} lines)")
    assert long == []
