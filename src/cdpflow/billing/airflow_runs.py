"""Task run durations as Airflow recorded them, read from its metadata database."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cdpflow.errors import TerminalError

# Every try of a task: the latest in task_instance, earlier ones in task_instance_history.
_TABLES = ("task_instance", "task_instance_history")
SETTING = "CDPFLOW_AIRFLOW_DB_URL"


@dataclass(frozen=True)
class DagUsage:
    dag_id: str
    task_runs: int
    seconds: float


def _parse(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rows(url: str) -> list[tuple[object, ...]]:
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1]) if ":///" in url else None
        if path is None or not path.exists():
            raise TerminalError(f"Airflow's metadata DB `{url}` does not exist; set {SETTING}.")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return [
                row
                for table in _TABLES
                if table in names
                for row in con.execute(
                    f"SELECT dag_id, start_date, end_date, duration FROM {table}"
                )
            ]
    if parts.scheme.split("+")[0] in ("postgresql", "postgres"):
        from cdpflow.postgres.client import PostgresClient

        # Airflow's setting is a SQLAlchemy URL (`postgresql+psycopg2://…`); psycopg takes the
        # same URL without the driver.
        plain = "postgresql" + url[len(parts.scheme) :]
        with PostgresClient.connect(plain, source=SETTING, application_name="billing") as db:
            return db.task_tries(_TABLES)
    raise TerminalError(
        f"{SETTING} `{parts.scheme}://…`: billing reads Airflow's metadata DB on SQLite"
        " (sqlite:///…, the embedded default) or PostgreSQL (postgresql://…)."
    )


def usage_by_dag(url: str, start: datetime, end: datetime) -> dict[str, DagUsage]:
    """Runs and run time per DAG of the task tries that started in [start, end)."""
    runs: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    for dag_id, started, ended, duration in _rows(url):
        begin = _parse(started)
        if begin is None or not start <= begin < end:
            continue
        finish = _parse(ended)
        if duration is not None:
            took = float(str(duration))
        else:  # a task still running, or killed before Airflow recorded its duration
            took = (finish - begin).total_seconds() if finish else 0.0
        runs[str(dag_id)] += 1
        seconds[str(dag_id)] += max(took, 0.0)
    return {d: DagUsage(d, runs[d], seconds[d]) for d in sorted(runs)}
