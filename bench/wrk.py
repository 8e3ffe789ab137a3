"""Load from wrk (a C HTTP load generator) when it is installed: a closed loop of N keep-alive
connections POSTing GraphQL bodies, each answer checked for `"errors":[]`.

wrk spends a fraction of the CPU a Python client does per request, and the client shares the
machine's cores with the server and PostgreSQL, so onhand is measured with as much of the
machine as pgbench leaves its baseline. Without wrk (`apt-get install wrk`), the benchmarks fall
back to their Python clients (also with BENCH_PYTHON_CLIENT=1, to compare the two).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from common import Rate, server_cpu_seconds

# Bodies are read from a file, one per line, in each of wrk's threads; requests take them in
# turn (`in_order`) or at random. Every answer without `"errors":[]` counts as an error.
SCRIPT = """
local bodies, n, threads = {}, 0, {}
errors = 0  -- a global: done() reads each thread's with thread:get
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s"}

function setup(thread) table.insert(threads, thread) end

function init(args)
  for line in io.lines(args[1]) do table.insert(bodies, line) end
  math.randomseed(os.time())
end

function request()
  n = n + 1
  local i = %(in_order)s and (n %% #bodies) + 1 or math.random(#bodies)
  return wrk.format("POST", "/graphql", headers, bodies[i])
end

function response(status, headers, body)
  if status ~= 200 or not body:find('"errors":[]', 1, true) then errors = errors + 1 end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("errors") end
  io.write(string.format(
    '{"requests": %%d, "seconds": %%f, "p50": %%f, "p99": %%f, "errors": %%d, "socket": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, failed,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def available() -> bool:
    """wrk is installed, and BENCH_PYTHON_CLIENT does not ask for the Python client."""
    return shutil.which("wrk") is not None and not os.environ.get("BENCH_PYTHON_CLIENT")


def wrk_rate(
    url: str,
    token: str,
    bodies: Sequence[bytes],
    seconds: float,
    connections: int,
    in_order: bool = True,
) -> Rate:
    """`connections` keep-alive connections POSTing `bodies` to `url`/graphql for `seconds`
    (one wrk thread: one core's event loop is plenty for these rates)."""
    if any(b"\n" in body for body in bodies):
        raise ValueError("a body holds a newline: bodies are one per line")
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(SCRIPT % {"token": token, "in_order": "true" if in_order else "false"})
        lines = Path(folder) / "bodies"
        lines.write_bytes(b"\n".join(bodies) + b"\n")
        cpu_before = server_cpu_seconds(url)
        found = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                url,
                "--",
                str(lines),
            ],
            capture_output=True,
            text=True,
        )
        if found.returncode:
            raise RuntimeError(f"wrk failed: {found.stderr.strip()[-600:]}")
        cpu = server_cpu_seconds(url) - cpu_before
    result = json.loads(found.stdout.strip().splitlines()[-1])
    if result["errors"] or result["socket"]:
        raise RuntimeError(f"wrk: {result['errors']} failed answers: {found.stdout[-600:]}")
    ok = result["requests"]
    return Rate(ok / result["seconds"], result["p50"], result["p99"], cpu * 1000 / ok)
