"""The committed SDL is the schema the code builds, and graphql/ never shadows graphql-core."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import graphql

from onhand.api.schema import print_sdl

ROOT = Path(__file__).resolve().parents[1]
SDL = ROOT / "graphql" / "schema.graphql"
REGENERATE = ".venv/bin/onhand schema > graphql/schema.graphql"


def test_the_committed_sdl_is_current() -> None:
    printed = print_sdl()
    committed = SDL.read_text()
    assert committed == printed, (
        f"graphql/schema.graphql is stale: the API changed. Regenerate it with `{REGENERATE}`"
        " and commit the result."
    )


def test_the_committed_sdl_is_a_valid_schema() -> None:
    schema = graphql.build_schema(SDL.read_text())
    assert schema.query_type is not None
    assert schema.mutation_type is not None


def test_the_graphql_folder_holds_no_python() -> None:
    """graphql/ holds documents only: any .py file would make it a package named like
    graphql-core's and, from the repository root, shadow it."""
    python = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "graphql").rglob("*.py*"))
    assert python == [], f"graphql/ must hold no Python files: {python}"


def _site_packages() -> set[Path]:
    return {Path(sysconfig.get_path(key)).resolve() for key in ("purelib", "platlib")}


def test_import_graphql_is_graphql_core() -> None:
    location = Path(graphql.__file__).resolve()
    assert any(location.is_relative_to(site) for site in _site_packages()), location
    assert not location.is_relative_to(ROOT / "graphql")
    assert hasattr(graphql, "graphql_sync")


def test_import_graphql_from_the_repository_root_is_graphql_core() -> None:
    """Run from the root, where the current directory comes first on sys.path."""
    found = subprocess.run(
        [sys.executable, "-c", "import graphql; print(graphql.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    location = Path(found.stdout.strip()).resolve()
    assert any(location.is_relative_to(site) for site in _site_packages()), location
