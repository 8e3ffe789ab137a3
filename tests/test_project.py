"""Guards on the project itself: packaging lists every package, the tree is lint-clean, and
CI runs exactly what the README tells a newcomer to run."""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from onhand.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"
CI = ROOT / ".ci" / "run"

# Where each shipped package tree lives in the repository, by its import name.
PACKAGE_ROOTS = {
    "onhand": ROOT / "server" / "onhand",
    "onhand.migrations": ROOT / "migrations",
    "onhand.seed": ROOT / "seed",
}


def python_directories(root: Path) -> list[Path]:
    """Every directory under `root` (itself included) that holds Python source."""
    return sorted(
        {
            path.parent
            for path in root.rglob("*.py")
            if "__pycache__" not in path.parts and not path.parent.name.endswith(".egg-info")
        }
    )


def package_name(prefix: str, root: Path, directory: Path) -> str:
    return ".".join([prefix, *directory.relative_to(root).parts])


def test_every_package_is_listed_in_pyproject() -> None:
    """setuptools is given an explicit list, so a new subpackage missing from it would work
    from the working tree yet be left out of every installed copy."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        package_name(prefix, root, directory)
        for prefix, root in PACKAGE_ROOTS.items()
        for directory in python_directories(root)
    }
    assert found - listed == set(), (
        f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
    )
    assert listed - found == set(), f"listed but not in the tree: {sorted(listed - found)}"


def test_every_package_directory_has_an_init() -> None:
    missing = [
        str(directory.relative_to(ROOT))
        for root in PACKAGE_ROOTS.values()
        for directory in python_directories(root)
        if not (directory / "__init__.py").exists()
    ]
    assert missing == [], f"Python directories without __init__.py: {missing}"


@pytest.mark.parametrize(
    "command", [["check", "."], ["format", "--check", "."]], ids=["check", "format"]
)
def test_ruff(command: list[str]) -> None:
    done = subprocess.run(
        [str(RUFF), *command], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"ruff {' '.join(command)} failed:\n{done.stdout}{done.stderr}"


def test_mypy() -> None:
    """The types hold (pyproject.toml's [tool.mypy]); a `type: ignore` names its error code
    and says why."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "server/onhand"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"mypy failed:\n{done.stdout}{done.stderr}"
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / "server").rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "# type: ignore" in line
        and not re.search(r"# type: ignore\[[a-z-]+(, [a-z-]+)*\]  # \S", line)
    ]
    assert bare == [], f"type: ignore without an error code and a reason: {bare}"


def quick_start() -> list[str]:
    """The commands of the README's quick start block, comments left out."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [
        line.strip()
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def commands(line: str) -> list[list[str]]:
    """A shell line's `&&`-chained commands, each as its words."""
    return [shlex.split(part) for part in line.split("&&")]


def test_the_quick_start_is_two_commands_installing_into_one_venv() -> None:
    serve, tests = quick_start()
    for line in (serve, tests):
        create, install, _ = commands(line)
        assert create == ["python3", "-m", "venv", ".venv"], line
        assert install[:3] == [".venv/bin/pip", "install", "-e"], line
    assert commands(serve)[-1][0] == ".venv/bin/onhand"
    assert commands(tests)[-1][0] == ".venv/bin/pytest"


def test_the_quick_start_serve_command_is_one_the_cli_accepts() -> None:
    serve, _ = quick_start()
    arguments = commands(serve)[-1][1:]
    parsed = build_parser().parse_args(arguments)
    assert parsed.command == "serve"
    assert parsed.demo


# The one step CI takes first: the system's chromium, which the dashboard's browser tests
# drive (they are skipped, saying so, where it is missing).
BROWSER_STEP = (
    "command -v chromium >/dev/null"
    " || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)"
)


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = quick_start()
    assert os.access(CI, os.X_OK), ".ci/run must be executable"
    script = CI.read_text()
    assert script.startswith("#!"), ".ci/run needs a shebang line"
    steps = [
        line.strip()
        for line in script.splitlines()
        if line.strip()
        and not line.lstrip().startswith("#")
        and not line.startswith(("set ", "cd "))
        and line.strip() != BROWSER_STEP
    ]
    assert BROWSER_STEP in script
    assert steps == [tests], f".ci/run must run exactly the README's test command: {tests}"


# Build outputs, downloads and local data: none of them is the project's source.
NOT_SOURCE = (".whl", ".tar.gz", ".tgz", ".zip", ".egg", ".so", ".pyc", ".dump", ".sqlite")


def test_git_tracks_no_build_output_download_or_data_file() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    tracked = [name for name in listed.stdout.split("\0") if name]
    assert tracked, "git lists the project's files"
    unwanted = [
        name
        for name in tracked
        if name.lower().endswith(NOT_SOURCE)
        or any(word in Path(name).name.lower() for word in ("dump", "sqlite"))
    ]
    assert unwanted == [], f"remove from git (and see .gitignore): {unwanted}"


def test_the_license_pyproject_names_is_there() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    assert "Copyright (c) 2026 onhand contributors" in license_text


def test_tests_import_helpers_only_from_support() -> None:
    """A test file imports shared helpers from tests/support/, never from another test file
    or from conftest: a test module is not a library, and importing one runs its fixtures'
    module again under another name."""
    tests = ROOT / "tests"
    offenders = []
    for path in sorted(tests.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top == "conftest" or top.startswith("test_") or top == "tests":
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
