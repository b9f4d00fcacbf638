"""`cdpflow run` checks every job's options before it runs any of them."""

from __future__ import annotations

import inspect
from pathlib import Path

from click.testing import CliRunner

from cdpflow.cli.main import cli
from cdpflow.jobs import JOBS, job_function
from cdpflow.settings import load_settings


def test_an_option_one_job_lacks_fails_before_any_job_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(
        cli,
        ["run", "cleanup_temp_tables", "events_unified_view", "--dry-run"],
        env={"CDPFLOW_HOME": str(home)},
    )
    assert result.exit_code == 2
    assert "events_unified_view has no dry-run mode" in result.output
    assert "cleanup_temp_tables" not in result.output  # the first job did not run


def test_an_unknown_dag_id_is_refused_listing_the_known_ones(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "events_incremantal"], env={"CDPFLOW_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "`events_incremantal` is not a DAG id; use one of events_incremental," in result.output


def test_only_is_an_entity_creation_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "events_incremental", "--only", "vip"], env={"CDPFLOW_HOME": str(tmp_path)}
    )
    assert result.exit_code == 2
    assert "events_incremental has no --only option" in result.output


def test_every_job_takes_the_progress_bar_cdpflow_run_passes() -> None:
    """`cdpflow run DAG_ID` calls each job with `progress=`: a job without it cannot be run."""
    lacking = [
        dag_id
        for dag_id in JOBS
        if "progress"
        not in inspect.signature(job_function(dag_id, load_settings(env={}))).parameters
    ]
    assert lacking == []
