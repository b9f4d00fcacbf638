"""The command `cdpflow spark-submit-args` prints, run for real: spark-submit on local[2] runs
id_stitching_incremental on Spark, and its tables equal DuckDB's."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from support.identity import IDENTITY_TABLES as TABLES
from support.identity import stitching_traffic as _traffic
from support.lake import LATER, lake_query
from support.spark import require_spark

from cdpflow.engine.spark_submit import render, submission
from cdpflow.jobs import events_incremental, id_stitching_incremental
from cdpflow.lake.raw import RawWriter
from cdpflow.lake.storage import Lake
from cdpflow.settings import load_settings

require_spark()


def _landed(home: Path):  # type: ignore[no-untyped-def]
    settings = load_settings(env={}, home=home)
    with RawWriter(Lake(settings.lake_url)) as writer:
        for item in _traffic():
            writer.write(item)
    events_incremental.run(settings, now=LATER)
    return settings


def test_the_printed_spark_submit_runs_the_job_on_spark(tmp_path: Path) -> None:
    duck = _landed(tmp_path / "duck")
    id_stitching_incremental.run(duck, now=LATER)

    env = {
        "CDPFLOW_SPARK_MASTER": "local[2]",
        "CDPFLOW_SPARK_CONF": "spark.sql.shuffle.partitions=2,spark.driver.memory=512m",
    }
    spark = load_settings(env=env, home=_landed(tmp_path / "spark").home)
    command = render(spark, submission(spark, "id_stitching_incremental", "shell"), "shell")
    words = shlex.split(command)
    submit = words.index("spark-submit")
    run_env = {
        **os.environ,
        **dict(w.split("=", 1) for w in words[:submit]),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(words[submit:], env=run_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "id_stitching_incremental" in done.stdout
    for table in TABLES:
        # detected_at is the run's clock: the submitted job runs now, the DuckDB one at LATER
        columns = "* EXCLUDE (detected_at)" if table == "identity_conflicts" else "*"
        sql = f"SELECT {columns} FROM {table}"
        assert sorted(map(repr, lake_query(duck, sql))) == sorted(
            map(repr, lake_query(spark, sql))
        ), table
    assert lake_query(spark, "SELECT count(*) AS n FROM identities") == [{"n": 19}]
