"""A job on a Spark cluster: the spark-submit entry point and the arguments that launch it.

`cdpflow spark-submit-args <dag_id>` prints how to submit a job (a `spark-submit` command line,
an EMR step or an EMR Serverless job run); the submitted program is this file, which runs the
same job function `cdpflow run` runs, on `CDPFLOW_ENGINE=spark`, with the master spark-submit
chose. Settings travel as the driver's environment variables: every setting that differs from
its default, except secrets and URLs with credentials in them, which the job reads where it
runs (its secrets backend, its own environment), so a command line never carries one.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cdpflow.errors import ConfigError
from cdpflow.settings import SETTINGS, Settings, load_settings, mask_url, written

# the jobs whose heavy work is the batch engine's (the others run on the machine of Airflow)
SPARK_JOBS = (
    "events_incremental",
    "id_stitching_incremental",
    "compression",
    "cleanup_temp_tables",
)
TARGETS = ("shell", "emr-step", "emr-serverless")
# Where each target puts the driver's environment: spark-submit's own process (client mode),
# YARN's application master (EMR steps run in cluster mode), EMR Serverless's driver.
_DRIVER_ENV = {
    "shell": None,
    "emr-step": "spark.yarn.appMasterEnv.",
    "emr-serverless": "spark.emr-serverless.driverEnv.",
}


@dataclass(frozen=True)
class Submission:
    """What to submit for one job, whichever way it is submitted."""

    dag_id: str
    entry_point: str
    env: dict[str, str]  # the driver's settings
    conf: dict[str, str]  # --conf pairs
    archives: tuple[str, ...] = ()
    withheld: tuple[str, ...] = field(default=())  # settings left for the cluster to provide


def submission(
    settings: Settings,
    dag_id: str,
    target: str,
    entry_point: str | None = None,
    venv_archive: str | None = None,
) -> Submission:
    """The arguments of `dag_id` on `target`; a ConfigError names what cannot work there."""
    if dag_id not in SPARK_JOBS:
        raise ConfigError(
            "dag_id", dag_id, f"a job that runs on the batch engine: {', '.join(SPARK_JOBS)}"
        )
    if target not in TARGETS:
        raise ConfigError("--target", target, f"one of {', '.join(TARGETS)}")
    remote = "://" in settings.lake_url and not settings.lake_url.startswith("file://")
    if target != "shell" and not remote:
        raise ConfigError(
            "CDPFLOW_LAKE_URL",
            settings.lake_url,
            "a lake the cluster can reach (s3://bucket/lake), not a path on this machine",
        )
    env = {"CDPFLOW_ENGINE": "spark"}
    withheld = []
    for s in SETTINGS:
        if s.key in env or settings.origins.get(s.key, "default") == "default":
            continue
        text = written(settings.value_of(s.key))
        if s.secret or mask_url(text) != text:
            withheld.append(s.key)
        else:
            env[s.key] = text
    if target == "shell" and not remote:  # the same machine: the same home
        env["CDPFLOW_HOME"] = str(settings.home)
    conf = dict(settings.spark_conf)
    archives: tuple[str, ...] = ()
    if venv_archive:  # a venv-pack'ed environment holding cdpflow[spark] and its dependencies
        archives = (f"{venv_archive}#environment",)
        conf["spark.archives"] = ",".join(archives)
        conf["spark.pyspark.python"] = "./environment/bin/python"
        if target == "shell":
            conf["spark.pyspark.driver.python"] = sys.executable
    return Submission(
        dag_id,
        entry_point or str(Path(__file__).resolve()),
        env,
        conf,
        archives,
        tuple(withheld),
    )


def spark_submit_args(sub: Submission, target: str, master: str | None) -> list[str]:
    """`spark-submit ...` for `sub`; `master` None leaves it to the cluster (EMR)."""
    args = ["spark-submit", "--name", f"cdpflow-{sub.dag_id}"]
    if master:
        args += ["--master", master]
    if target == "emr-step":
        args += ["--deploy-mode", "cluster"]
    prefix = _DRIVER_ENV[target]
    for key, value in sub.conf.items():
        args += ["--conf", f"{key}={value}"]
    if prefix:
        for key, value in sub.env.items():
            args += ["--conf", f"{prefix}{key}={value}"]
    return [*args, sub.entry_point, sub.dag_id]


def render(
    settings: Settings,
    sub: Submission,
    target: str,
    cluster_id: str = "CLUSTER_ID",
    application_id: str = "APPLICATION_ID",
    role_arn: str = "EXECUTION_ROLE_ARN",
) -> str:
    """The command to run, for a shell: `spark-submit` itself, or the AWS CLI call that submits
    it as an EMR step or an EMR Serverless job run."""
    if target == "shell":
        env = [f"{k}={shlex.quote(v)}" for k, v in sub.env.items()]
        return " ".join([*env, shlex.join(spark_submit_args(sub, target, settings.spark_master))])
    if target == "emr-step":
        step = {
            "Type": "CUSTOM_JAR",
            "Name": f"cdpflow {sub.dag_id}",
            "ActionOnFailure": "CONTINUE",
            "Jar": "command-runner.jar",
            "Args": spark_submit_args(sub, target, "yarn"),
        }
        return shlex.join(
            [
                "aws", "emr", "add-steps", "--region", settings.aws_region,
                "--cluster-id", cluster_id, "--steps", json.dumps([step]),
            ]
        )  # fmt: skip
    args = spark_submit_args(sub, target, None)
    entry = args.index(sub.entry_point)
    driver = {
        "sparkSubmit": {
            "entryPoint": sub.entry_point,
            "entryPointArguments": args[entry + 1 :],
            "sparkSubmitParameters": " ".join(args[1:entry]),  # EMR splits on spaces
        }
    }
    return shlex.join(
        [
            "aws", "emr-serverless", "start-job-run", "--region", settings.aws_region,
            "--application-id", application_id, "--execution-role-arn", role_arn,
            "--name", f"cdpflow-{sub.dag_id}", "--job-driver", json.dumps(driver),
        ]
    )  # fmt: skip


def emr_cluster_hint(settings: Settings) -> str:
    """Where EMR_EC2_INSTANCE_TYPE and PRIVATE_SUBNET apply: the cluster the steps run on."""
    subnet = f"SubnetId={settings.private_subnet}" if settings.private_subnet else None
    args = [
        "aws", "emr", "create-cluster", "--region", settings.aws_region, "--name", "cdpflow",
        "--release-label", "EMR_RELEASE", "--applications", "Name=Spark",
        "--instance-type", settings.emr_ec2_instance_type, "--instance-count", "3",
        "--use-default-roles",
    ]  # fmt: skip
    if subnet:
        args += ["--ec2-attributes", subnet]
    return shlex.join(args)


def main(argv: Sequence[str] | None = None) -> int:
    """spark-submit's program: run one job with the master and resources spark-submit set."""
    parser = argparse.ArgumentParser(prog="cdpflow-spark-job")
    parser.add_argument("dag_id", choices=SPARK_JOBS)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from cdpflow.jobs import Interval, job_function

    # an empty master: the session takes the one spark-submit gave
    settings = replace(load_settings(), engine="spark", spark_master="")
    result = job_function(args.dag_id, settings)(settings, Interval())
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
