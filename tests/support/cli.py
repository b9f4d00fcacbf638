"""The `cdpflow` command in a subprocess, as a user runs it, on a CDPFLOW_HOME of the test's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def cdpflow(
    home: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `cdpflow ARGS` with only this home's settings (none inherited from the caller)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CDPFLOW_")}
    full_env.update({"CDPFLOW_HOME": str(home), **(env or {})})
    proc = subprocess.run(
        [sys.executable, "-m", "cdpflow.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"cdpflow {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def sql(home: Path, query: str) -> list[dict]:
    """Rows of `cdpflow sql QUERY --format json`."""
    return json.loads(cdpflow(home, "sql", query, "--format", "json").stdout)
