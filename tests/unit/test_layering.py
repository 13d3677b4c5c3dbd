"""The code's shape: imports at module top, no import cycles, no package importing one above it.

The order of the layer's packages, bottom first (docs/ARCHITECTURE.md draws it): a module may import
from its own level or below, never above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared" / "novita_orchestrator"
LOCAL = ROOT / "local" / "novita_local"
FUNCTIONS = ROOT / "functions"

#: novita_orchestrator's packages and base modules, bottom first.
LEVELS: list[set[str]] = [
    {
        "clock",
        "cold_start",
        "times",
        "environment",
        "http_headers",
        "invocation",
        "outbound",
        "observability",
        "settings",
    },
    {"novita"},
    {"resilience"},
    {"store"},
    {"webhooks"},
    {"workflow"},
    {"steps"},
    {"api"},
    {"deps"},
]
LEVEL_OF = {name: level for level, names in enumerate(LEVELS) for name in names}
#: Packages outside the levels: the client kit, which callers install to call the API, imports nothing
#: else of the layer, and nothing else of the layer imports it.
STANDALONE = {"client"}


def _modules(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join([package, *parts]), path


def _imports(path: Path) -> Iterator[tuple[str, ast.AST]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node


#: The one deferred import, by module: what it imports and why it may wait.
DEFERRED_IMPORTS = {
    # Powertools' OpenAPI document models and Swagger UI, for GET /docs only: importing them at init
    # cost about a third of bare boto3's cold start (docs/BENCHMARKS.md), for a page no other route needs.
    "novita_orchestrator.api.docs": {"aws_lambda_powertools.event_handler.openapi"},
}


def _late_imports(path: Path) -> Iterator[tuple[int, str]]:
    """Imports that are not statements of the module itself: line number and module imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and id(node) not in top:
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and id(node) not in top:
            yield node.lineno, node.module or ""


def test_every_import_of_the_layer_and_local_is_at_module_top() -> None:
    late = []
    for root, package in ((LAYER, "novita_orchestrator"), (LOCAL, "novita_local"), (FUNCTIONS, "functions")):
        for module, path in _modules(root, package):
            allowed = DEFERRED_IMPORTS.get(module, set())
            late += [f"{module}:{line}" for line, name in _late_imports(path) if name not in allowed]
            source = path.read_text(encoding="utf-8")
            assert "TYPE_CHECKING" not in source, f"{module} defers an import behind TYPE_CHECKING"
    assert not late, f"imports inside functions: {late}"


def test_no_package_of_the_layer_imports_one_above_it() -> None:
    upward = []
    for module, path in _modules(LAYER, "novita_orchestrator"):
        if "." in module and module.split(".")[1] in STANDALONE:
            continue  # checked below
        level = LEVEL_OF[module.split(".")[1]] if "." in module else 0
        for imported, _ in _imports(path):
            if not imported.startswith("novita_orchestrator."):
                continue
            target = imported.split(".")[1]
            if target in STANDALONE:
                upward.append(f"{module} imports {imported}")
            if target in LEVEL_OF and LEVEL_OF[target] > level:
                upward.append(f"{module} imports {imported}")
    assert not upward, sorted(set(upward))


def test_the_client_kit_imports_nothing_else_of_the_layer() -> None:
    for package in STANDALONE:
        for module, path in _modules(LAYER / package, f"novita_orchestrator.{package}"):
            others = [
                name
                for name, _ in _imports(path)
                if name.startswith("novita_orchestrator.")
                and not name.startswith(f"novita_orchestrator.{package}")
            ]
            assert not others, f"{module} imports {others}"


def test_every_package_of_the_layer_has_a_place() -> None:
    packages = {path.parent.name for path in LAYER.glob("*/__init__.py")}
    assert packages <= set(LEVEL_OF) | STANDALONE, sorted(packages - set(LEVEL_OF) - STANDALONE)


def test_the_layer_never_imports_the_local_stack() -> None:
    for module, path in _modules(LAYER, "novita_orchestrator"):
        assert not any(name.startswith("novita_local") for name, _ in _imports(path)), module


def test_there_are_no_import_cycles() -> None:
    modules = dict(_modules(LAYER, "novita_orchestrator")) | dict(_modules(LOCAL, "novita_local"))
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for imported, _ in _imports(path):
            # "from package import name" imports the package (and the submodule when name is one).
            if imported in modules and imported != module:
                edges.add(imported)
        graph[module] = edges

    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    walked: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        walked.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*walked[walked.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        walked.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    # A package's __init__ importing its own submodules is not a cycle a reader trips on; none here do.
    assert not cycles, [" -> ".join(cycle) for cycle in cycles]
