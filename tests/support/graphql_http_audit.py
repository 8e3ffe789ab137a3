"""The GraphQL-over-HTTP spec's own server audit (`auditServer` of the npm package
`graphql-http`), run with node against a running server.

The package is installed once, at a pinned version, into a cache directory outside the
repository (XDG_CACHE_HOME, else ~/.cache) and reused by later runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

GRAPHQL_HTTP = "1.23.1"
GRAPHQL_JS = "16.15.0"  # graphql-http's peer dependency, pinned too so every run audits alike
SCRIPT = Path(__file__).with_name("graphql_http_audit.cjs")
INSTALL_SECONDS = 300
AUDIT_SECONDS = 120


class AuditUnavailableError(Exception):
    """The audit cannot run here (no node or npm, or no registry to install it from)."""


def cache_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "onhand" / "npm" / f"graphql-http-{GRAPHQL_HTTP}"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AuditUnavailableError(f"`{name}` is not installed: the audit runs on Node.js")
    return found


def install() -> Path:
    """The directory of the installed graphql-http package, installed on first use."""
    node, npm = _tool("node"), _tool("npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 18:
        raise AuditUnavailableError(f"node {version.stdout.strip()} has no fetch(): 18+ needed")
    target = cache_directory()
    package = target / "node_modules" / "graphql-http"
    if (package / "package.json").exists():
        return package
    _registry_reachable(npm)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Installed beside the cache and renamed into place: a run stopped half-way, or two runs
    # at once, never leave a half-installed package where the next run would use it.
    partial = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
    try:
        command = [
            npm,
            "install",
            "--prefix",
            str(partial),
            "--no-audit",
            "--no-fund",
            "--no-package-lock",
            "--ignore-scripts",
            f"graphql-http@{GRAPHQL_HTTP}",
            f"graphql@{GRAPHQL_JS}",
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"npm install failed:\n{done.stdout}\n{done.stderr}")
        try:
            partial.rename(target)
        except OSError:
            if not (package / "package.json").exists():  # not another run's install
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return package


def _registry_reachable(npm: str) -> None:
    """Asked once, without retries: npm itself retries an unreachable registry for minutes."""
    command = [npm, "ping", "--fetch-retries=0", "--fetch-timeout=20000"]
    try:
        ping = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired as error:
        raise AuditUnavailableError("the npm registry cannot be reached (no answer)") from error
    if ping.returncode != 0:
        errors = [line for line in ping.stderr.splitlines() if line.startswith("npm error")]
        reason = next((line for line in errors if "Error:" in line), "npm ping failed")
        raise AuditUnavailableError(f"the npm registry cannot be reached: {reason}")


def audit(package: Path, url: str, token: str) -> list[dict[str, Any]]:
    """Every audit's result: id, name, status ("ok", or "error" for a MUST, "warn" for a
    SHOULD, "notice" for a MAY) and, when not ok, why, with the response's status, content
    type and body."""
    done = subprocess.run(
        [_tool("node"), str(SCRIPT), str(package), url],
        env={**os.environ, "ONHAND_AUDIT_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=AUDIT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the audit did not run:\n{done.stderr}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results
