"""A real Apache Superset for integration tests, from the venv `make superset` installs.

Started once per test session (it takes half a minute or more on a small machine) on loopback,
with its own CDPFLOW_HOME (SQLite metadata) and a known admin password.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from cdpflow.settings import Settings, load_settings
from cdpflow.superset.runtime import (
    prepare_superset,
    server_command,
    superset_home,
    superset_venv,
)
from support.ports import free_port

ADMIN_PASSWORD = "Sup3rset-test-pw!"  # looked for in logs, errors and the lake by the tests
VENV_HINT = "Superset's venv is missing ({venv}): run `make superset` (.ci/run does)"


@dataclass
class SupersetServer:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    started_seconds: float

    def env(self) -> dict[str, str]:
        """Settings a cdpflow job needs to reach this Superset."""
        return {
            "SUPERSET_BASE_URL": self.url,
            "SUPERSET_USERNAME": "admin",
            "SUPERSET_PASSWORD": ADMIN_PASSWORD,
        }

    def log(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")


def venv_missing() -> str | None:
    venv = superset_venv()
    if not (venv / "bin" / "gunicorn").exists():
        return VENV_HINT.format(venv=venv)
    return None


def start_superset(
    root: Path, timeout: float = 300.0, feature_flags: dict[str, bool] | None = None
) -> SupersetServer:
    """A Superset on loopback; `feature_flags` are added to its config (e.g. ALERT_REPORTS)."""
    started = time.monotonic()
    settings: Settings = load_settings(
        env={"SUPERSET_PASSWORD": ADMIN_PASSWORD, "SUPERSET_USERNAME": "admin"}, home=root
    )
    venv = superset_venv()
    env = prepare_superset(settings, venv, say=lambda _: None)
    if feature_flags:
        with open(superset_home(settings) / "superset_config.py", "a") as config:
            config.write(f"FEATURE_FLAGS = {{**FEATURE_FLAGS, **{feature_flags!r}}}\n")
    port = free_port()
    with open(root / "server.log", "wb") as log:  # the server keeps its own descriptor
        process = subprocess.Popen(
            server_command(venv, "127.0.0.1", port),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    server = SupersetServer(url, root, process, 0.0)
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"Superset exited ({process.returncode}):\n{server.log()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                server.started_seconds = time.monotonic() - started
                return server
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop_superset(server)
    raise RuntimeError(f"Superset did not answer within {timeout:.0f} s:\n{server.log()[-3000:]}")


def stop_superset(server: SupersetServer) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
