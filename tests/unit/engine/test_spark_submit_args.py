"""`cdpflow spark-submit-args`: the commands that run a batch job on Spark or EMR."""

from __future__ import annotations

import json
import shlex

import pytest

from cdpflow.engine.spark_submit import render, submission
from cdpflow.errors import ConfigError
from cdpflow.settings import load_settings

S3 = {"CDPFLOW_LAKE_URL": "s3://shop-lake/lake", "AWS_REGION": "eu-central-1"}
SECRETS = {
    "SUPERSET_PASSWORD": "hunter22",
    "CDPFLOW_AIRFLOW_DB_URL": "postgresql://airflow:pa55word@db/airflow",
}


def _settings(tmp_path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings(env=env, home=tmp_path / "home")


def _words(command: str) -> list[str]:
    return shlex.split(command)


def test_shell_command_carries_the_changed_settings_and_no_secret(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(
        tmp_path,
        CDPFLOW_SPARK_MASTER="spark://10.0.0.5:7077",
        CDPFLOW_SPARK_CONF="spark.executor.memory=4g",
        CDPFLOW_DEDUP_WINDOW_DAYS="3",
        **SECRETS,
    )
    sub = submission(settings, "compression", "shell")
    command = render(settings, sub, "shell")
    words = _words(command)
    assert "hunter22" not in command and "pa55word" not in command
    assert set(sub.withheld) == {"CDPFLOW_AIRFLOW_DB_URL", "SUPERSET_PASSWORD"}
    submit = words.index("spark-submit")
    assert dict(w.split("=", 1) for w in words[:submit]) == {
        "CDPFLOW_ENGINE": "spark",
        "CDPFLOW_SPARK_MASTER": "spark://10.0.0.5:7077",
        "CDPFLOW_SPARK_CONF": "spark.executor.memory=4g",
        "CDPFLOW_DEDUP_WINDOW_DAYS": "3",
        "CDPFLOW_HOME": str(settings.home),
    }
    assert words[submit:] == [
        "spark-submit", "--name", "cdpflow-compression", "--master", "spark://10.0.0.5:7077",
        "--conf", "spark.executor.memory=4g", sub.entry_point, "compression",
    ]  # fmt: skip
    assert sub.entry_point.endswith("cdpflow/engine/spark_submit.py")


def test_emr_step_runs_in_cluster_mode_with_the_settings_in_the_driver(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path, **S3, **SECRETS)
    sub = submission(settings, "id_stitching_incremental", "emr-step", "s3://shop-lake/job.py")
    words = _words(render(settings, sub, "emr-step", cluster_id="j-2AXXXXXXGAPLF"))
    assert words[:9] == [
        "aws", "emr", "add-steps", "--region", "eu-central-1",
        "--cluster-id", "j-2AXXXXXXGAPLF", "--steps", words[8],
    ]  # fmt: skip
    (step,) = json.loads(words[8])
    assert (step["Type"], step["Jar"], step["ActionOnFailure"]) == (
        "CUSTOM_JAR", "command-runner.jar", "CONTINUE",
    )  # fmt: skip
    args = step["Args"]
    assert args[:7] == [
        "spark-submit", "--name", "cdpflow-id_stitching_incremental",
        "--master", "yarn", "--deploy-mode", "cluster",
    ]  # fmt: skip
    assert args[-2:] == ["s3://shop-lake/job.py", "id_stitching_incremental"]
    env = {a for a in args if a.startswith("spark.yarn.appMasterEnv.")}
    assert env == {
        "spark.yarn.appMasterEnv.CDPFLOW_ENGINE=spark",
        "spark.yarn.appMasterEnv.CDPFLOW_LAKE_URL=s3://shop-lake/lake",
        "spark.yarn.appMasterEnv.AWS_REGION=eu-central-1",
    }
    assert "hunter22" not in words[8] and "pa55word" not in words[8]


def test_emr_serverless_job_run_ships_the_environment_archive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path, **S3)
    sub = submission(
        settings, "events_incremental", "emr-serverless", "s3://b/job.py", "s3://b/cdp.tar.gz"
    )
    words = _words(render(settings, sub, "emr-serverless", application_id="00fabc"))
    assert words[words.index("--application-id") + 1] == "00fabc"
    driver = json.loads(words[words.index("--job-driver") + 1])["sparkSubmit"]
    assert driver["entryPoint"] == "s3://b/job.py"
    assert driver["entryPointArguments"] == ["events_incremental"]
    params = driver["sparkSubmitParameters"].split(" ")
    assert "spark.archives=s3://b/cdp.tar.gz#environment" in params
    assert "spark.pyspark.python=./environment/bin/python" in params
    assert "spark.emr-serverless.driverEnv.CDPFLOW_LAKE_URL=s3://shop-lake/lake" in params
    assert "--master" not in params


def test_a_cluster_cannot_use_a_lake_on_this_machine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"CDPFLOW_LAKE_URL .* a lake the cluster can reach"):
        submission(_settings(tmp_path), "compression", "emr-step")


def test_only_batch_engine_jobs_are_submitted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="`attribution`; expected a job that runs on the batch"):
        submission(_settings(tmp_path, **S3), "attribution", "emr-step")
