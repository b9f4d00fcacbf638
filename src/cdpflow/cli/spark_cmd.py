"""`cdpflow spark-submit-args <dag_id>`: how to run a batch job on a Spark cluster or on EMR."""

from __future__ import annotations

import click

from cdpflow.cli.context import Context
from cdpflow.engine.spark_submit import (
    SPARK_JOBS,
    TARGETS,
    emr_cluster_hint,
    render,
    submission,
)


@click.command("spark-submit-args")
@click.argument("dag_id", type=click.Choice(SPARK_JOBS))
@click.option(
    "--target",
    type=click.Choice(TARGETS),
    default="shell",
    show_default=True,
    help="spark-submit on this machine's cluster (CDPFLOW_SPARK_MASTER), an EMR step, or an "
    "EMR Serverless job run.",
)
@click.option("--entry-point", help="The job script where the cluster reads it (s3://...).")
@click.option("--venv-archive", help="A venv-pack archive with cdpflow[spark] (s3://...tar.gz).")
@click.option("--cluster-id", default="CLUSTER_ID", help="emr-step: the EMR cluster.")
@click.option("--application-id", default="APPLICATION_ID", help="emr-serverless: the app.")
@click.option("--execution-role-arn", default="EXECUTION_ROLE_ARN", help="emr-serverless.")
@click.pass_obj
def spark_submit_args(
    obj: Context,
    dag_id: str,
    target: str,
    entry_point: str | None,
    venv_archive: str | None,
    cluster_id: str,
    application_id: str,
    execution_role_arn: str,
) -> None:
    """Print the command that submits DAG_ID's job to Spark with this deployment's settings.

    The command goes to stdout (pipe it to a shell, or paste it); notes go to stderr. Secrets
    and URLs holding credentials are never printed: the job reads them where it runs.
    """
    settings = obj.settings
    sub = submission(settings, dag_id, target, entry_point, venv_archive)
    click.echo(render(settings, sub, target, cluster_id, application_id, execution_role_arn))
    if sub.withheld:
        click.echo(
            f"Not passed (secrets or credentials; set them where the job runs): "
            f"{', '.join(sub.withheld)}",
            err=True,
        )
    if target == "emr-step":
        click.echo(
            "The steps run on an EMR cluster with Spark, for example:\n  "
            + emr_cluster_hint(settings),
            err=True,
        )
    if target != "shell" and entry_point is None:
        click.echo(
            f"Upload {sub.entry_point} where the cluster can read it and pass --entry-point.",
            err=True,
        )


COMMANDS = [spark_submit_args]
