"""Run `dbt build` on the bundled project, in this process, and report what it did.

dbt runs in-process (dbtRunner) so that the lake's filesystem, when it is not local, is the same
object dbt-duckdb reads through, and so that no second Python start is paid per task.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from cdpflow.dbt.models import PROJECT_DIR
from cdpflow.errors import TerminalError
from cdpflow.events.schema import CORE_EVENTS_COLUMNS
from cdpflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeResult:
    """One model or test of a dbt run."""

    name: str
    kind: str  # model, seed or test
    status: str  # success, pass, error, fail, warn, skipped
    seconds: float
    message: str = ""


@dataclass
class DbtBuildResult:
    nodes: list[NodeResult] = field(default_factory=list)

    @property
    def models(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.kind == "model"]

    @property
    def seeds(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.kind == "seed"]

    @property
    def tests(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.kind in ("test", "unit_test")]


class DbtBuildFailed(TerminalError):
    """A model or one of its tests failed; the models after it were not built."""

    def __init__(self, failed: Sequence[NodeResult], detail: str = "") -> None:
        self.failed = list(failed)
        listed = "; ".join(f"{n.kind} `{n.name}` {n.status}: {n.message}" for n in failed)
        super().__init__(
            f"dbt build failed: {listed or detail}. Models downstream of it were not built and "
            "nothing was published to the lake; fix the cause and re-run (after an upgrade "
            "that changed a model's columns, once with --full-rebuild)."
        )


def write_profile(work: Path, target: dict[str, Any]) -> Path:
    """profiles.yml for the `cdpflow` profile, readable only by its owner (it may hold keys)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "profiles.yml"
    text = yaml.safe_dump({"cdpflow": {"target": "lake", "outputs": {"lake": target}}})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return work


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The project's vars from the settings."""
    return {
        "session_timeout_minutes": settings.session_timeout_minutes,
        "session_max_hours": settings.session_max_hours,
        "honour_tracker_session_id": settings.session_use_tracker_id,
        "conversion_events": list(settings.conversion_events),
        "computation_window_days": settings.computation_window,
        "site_hosts": [h.lower() for h in settings.site_hosts],
        # the one list of core_events' columns, for the models that carry them (macro
        # event_columns)
        "core_events_columns": [name for name, _ in CORE_EVENTS_COLUMNS],
    }


def dbt_build(
    profiles_dir: Path,
    select: Sequence[str],
    variables: dict[str, Any],
    *,
    full_refresh: bool = False,
    on_node: Callable[[NodeResult], None] | None = None,
) -> DbtBuildResult:
    """`dbt build --select <select>`: run the models and their tests, upstream first.

    Raises:
        DbtBuildFailed: a model or test failed (the models after it are skipped).
    """
    from dbt.cli.main import dbtRunner

    target = profiles_dir / "target"
    args = [
        "build",
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(profiles_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(profiles_dir / "logs"),
        "--vars",
        orjson.dumps(variables).decode(),
        # a test runs when its models are selected or upstream of them, so a job never tests
        # a table another job has not built yet
        "--indirect-selection",
        "buildable",
        # manifest.json and run_results.json (every node's SQL) are not read: the results come
        # through the callback and dbt.log; partial parsing keeps its own file
        "--no-write-json",
        "--select",
        *select,
    ]
    if full_refresh:
        args.append("--full-refresh")
    result = DbtBuildResult()

    def callback(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        data = event.data.run_result
        node = NodeResult(
            name=event.data.node_info.node_name,
            kind=event.data.node_info.resource_type,
            status=str(data.status),
            seconds=float(data.execution_time or 0.0),
            message=" ".join(str(data.message or "").split()),
        )
        result.nodes.append(node)
        if on_node:
            on_node(node)

    env = {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        outcome = dbtRunner(callbacks=[callback]).invoke(args)
    finally:
        _release_adapter()
        _close_dbt_logs()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    failed = [n for n in result.nodes if n.status in ("error", "fail", "runtime error")]
    if not outcome.success:
        detail = str(outcome.exception) if outcome.exception else ""
        raise DbtBuildFailed(failed, detail) from outcome.exception
    return result


def _release_adapter() -> None:
    """Close the database dbt-duckdb keeps open between invocations, so the warehouse file can
    be opened again (by this process or another) once dbt is done."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter; nothing kept open
        return
    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def _close_dbt_logs() -> None:
    """Close the log files dbt opened for this invocation; dbt leaves them open otherwise."""
    from dbt_common.events.event_manager_client import get_event_manager

    manager = get_event_manager()
    for logger in getattr(manager, "loggers", []):
        python_logger = getattr(logger, "_python_logger", None)
        for handler in python_logger.handlers if python_logger else []:
            if isinstance(handler, logging.FileHandler):
                handler.close()
