"""Running real Airflow commands from tests: each in a subprocess with its own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cdpflow.airflow.dag_factory import DAGS_FOLDER

BIN = Path(sys.executable).parent


def airflow_env(airflow_home: Path, cdpflow_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CDPFLOW_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        CDPFLOW_HOME=str(cdpflow_home),
    )
    env.update(extra)
    return env


def home_dags_folder(cdpflow_home: Path) -> str:
    """cdpflow's DAGs folder under CDPFLOW_HOME, prepared by `cdpflow dags-folder` as a user
    would: the package's DAGs linked in and one generated DAG file per declared file. Tests of
    declared pipelines and destinations point AIRFLOW__CORE__DAGS_FOLDER at it."""
    env = airflow_env(cdpflow_home / "airflow", cdpflow_home)
    proc = subprocess.run(
        [sys.executable, "-m", "cdpflow.cli.main", "dags-folder"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return proc.stdout.strip().splitlines()[-1]


DECLARED_DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
  "dags": {d.dag_id: {"tasks": {t.task_id: [o.name for o in t.outlets] for t in d.tasks},
    "schedule": str(d.schedule),
    "assets": str(getattr(d.timetable, "asset_condition", None))} for d in bag.dags.values()}}))
"""


def parse_home_dags(airflow_home: Path, cdpflow_home: Path) -> dict:
    """A real DagBag of cdpflow's DAGs folder under CDPFLOW_HOME: its import errors by file and,
    per DAG, each task's outlets, the schedule and the asset condition."""
    import json

    folder = home_dags_folder(cdpflow_home)
    env = airflow_env(airflow_home, cdpflow_home, AIRFLOW__CORE__DAGS_FOLDER=folder)
    proc = subprocess.run(
        [sys.executable, "-c", DECLARED_DAGBAG, folder],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run_airflow(
    airflow_home: Path, cdpflow_home: Path, *args: str, check: bool = True, **extra: str
):
    proc = subprocess.run(
        [str(BIN / "airflow"), *args],
        env=airflow_env(airflow_home, cdpflow_home, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"airflow {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def generate_sample(env: dict[str, str], visitors: int) -> None:
    """One day of sample traffic (ending 2026-11-20) landed in the env's CDPFLOW_HOME."""
    subprocess.run(
        [
            str(BIN / "cdpflow"),
            "generate-sample",
            "--days",
            "1",
            "--visitors",
            str(visitors),
            "--end",
            "2026-11-20T00:00:00Z",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
