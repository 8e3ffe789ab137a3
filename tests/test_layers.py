"""The code's layers point one way and its modules import no circle: api -> inventory ->
events -> db, all on core (README, Architecture). Imports under `if TYPE_CHECKING:` and
inside functions are left out: they run after every module has loaded."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "server"
PACKAGE = SOURCE / "onhand"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def module_level_imports(path: Path) -> set[str]:
    """The onhand modules `path` imports when it loads."""

    def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            yield node
            if isinstance(node, ast.If | ast.Try):
                yield from statements(node.body)
                yield from statements(node.orelse)

    found: set[str] = set()
    for node in statements(ast.parse(path.read_text()).body):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES}


GRAPH = {name: module_level_imports(path) for name, path in MODULES.items()}


def find_cycle() -> list[str] | None:
    """One import circle (its modules in order), if there is any."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def test_no_module_imports_a_circle_back_to_itself() -> None:
    assert find_cycle() is None, " -> ".join(find_cycle() or [])


# (a package, the packages it may not import, exceptions to those).
RULES = [
    ("onhand.core", ("onhand.",), ("onhand.core",)),
    ("onhand.db", ("onhand.api", "onhand.inventory", "onhand.events", "onhand.webhooks"), ()),
    ("onhand.events", ("onhand.api", "onhand.inventory", "onhand.webhooks"), ()),
    (
        "onhand.inventory",
        ("onhand.api", "onhand.cli", "onhand.runtime", "onhand.services", "onhand.workers"),
        (),
    ),
    ("onhand.webhooks", ("onhand.api", "onhand.cli", "onhand.runtime", "onhand.services"), ()),
]


@pytest.mark.parametrize(("package", "forbidden", "allowed"), RULES, ids=[r[0] for r in RULES])
def test_layers_point_one_way(
    package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...]
) -> None:
    """Every import, deferred ones included: a lower layer never reaches up."""
    wrong = []
    for name, path in MODULES.items():
        if not (name == package or name.startswith(package + ".")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                if target.startswith(forbidden) and not target.startswith(allowed or ("\0",)):
                    wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_domain_and_below_hold_no_command_line_code() -> None:
    """argparse and terminal output belong to cli/."""
    found = [
        name
        for name, path in MODULES.items()
        if name.startswith(("onhand.core", "onhand.inventory", "onhand.events", "onhand.db"))
        and any(
            (isinstance(node, ast.Import) and node.names[0].name in ("argparse", "rich"))
            or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rich")
            for node in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert found == []


def test_the_api_and_the_domain_import_nothing_inside_functions() -> None:
    """Types that refer to each other do it through strawberry's lazy types, so no import
    hides in a resolver (the command line defers its imports on purpose: `onhand --help`
    should not load the server)."""
    found = [
        f"{name}:{node.lineno}"
        for name, path in MODULES.items()
        if name.startswith(("onhand.api", "onhand.inventory", "onhand.events", "onhand.core"))
        for function in ast.walk(ast.parse(path.read_text()))
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    assert found == []
