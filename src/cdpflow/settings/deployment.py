"""The deployment-wide settings named without the CDPFLOW_ prefix: DAG schedules and start date,
who is e-mailed when a task fails, Superset, Airbyte, the Spark workers' instance type and subnet,
and release tags. Kept apart from cdpflow's own settings, which all carry the prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cdpflow.settings import parse
from cdpflow.settings.declare import setting


@dataclass(frozen=True)
class DeploymentSettings:
    """Schedules, start date, failure e-mail, Superset, Airbyte, Spark workers, release tags."""

    airbyte_url: str = setting(
        "AIRBYTE_URL", "", parse.http_url, "Airbyte API used by ELT pipeline DAGs."
    )
    airflow_dag_failed_email: str = setting(
        "AIRFLOW_DAG_FAILED_EMAIL", "", parse.email, "Who is emailed when a task fails."
    )
    airflow_start_date: datetime = setting(  # noqa: RUF009 - a datetime is immutable
        "AIRFLOW_START_DATE", "1977-10-01 00:00:00", parse.timestamp, "start_date of every DAG."
    )
    aws_region: str = setting(
        "AWS_REGION", "us-west-2", parse.stripped, "AWS region of secrets and costs."
    )
    computation_window: int = setting(
        "COMPUTATION_WINDOW",
        "90",
        parse.whole_number(1, "days"),
        "Days of history the analytics models look back over.",
    )
    emr_ec2_instance_type: str = setting(
        "EMR_EC2_INSTANCE_TYPE",
        "m4.large",
        parse.stripped,
        "Instance type of Spark workers (also prices billing).",
    )
    events_incremental_schedule_interval: str = setting(
        "EVENTS_INCREMENTAL_SCHEDULE_INTERVAL",
        "0 * * * *",
        parse.cron,
        "Schedule of events_incremental.",
    )
    id_stitching_incremental_schedule_interval: str = setting(
        "ID_STITCHING_INCREMENTAL_SCHEDULE_INTERVAL",
        "0 */4 * * *",
        parse.cron,
        "Schedule of id_stitching_incremental.",
    )
    private_subnet: str = setting("PRIVATE_SUBNET", "", parse.stripped, "Subnet of Spark workers.")
    schedule_interval_delete_idle_connections: str = setting(
        "SCHEDULE_INTERVAL_DELETE_IDLE_CONNECTIONS",
        "0 */3 * * *",
        parse.cron,
        "Schedule of delete_idle_db_connections.",
    )
    superset_base_url: str = setting(
        "SUPERSET_BASE_URL", "", parse.http_url, "Superset the BI DAGs talk to."
    )
    superset_username: str = setting("SUPERSET_USERNAME", "", parse.stripped, "Superset API user.")
    superset_password: str = setting(
        "SUPERSET_PASSWORD", "", parse.stripped, "Superset API password.", secret=True
    )
    superset_user_email: str = setting(
        "SUPERSET_USER_EMAIL", "", parse.email, "Superset user's email."
    )
    tag_dbt_analytics: str = setting(
        "TAG_DBT_ANALYTICS", "", parse.stripped, "Release tag of analytics models."
    )
    tag_dbt_code_generator: str = setting(
        "TAG_DBT_CODE_GENERATOR", "", parse.stripped, "Release tag of generated dbt models."
    )
    tag_dbt_reverse_el: str = setting(
        "TAG_DBT_REVERSE_EL", "", parse.stripped, "Release tag of reverse-EL."
    )
    tag_superset_automation: str = setting(
        "TAG_SUPERSET_AUTOMATION", "", parse.stripped, "Release tag of Superset automation."
    )
    user_reporting_schedule_interval: str = setting(
        "USER_REPORTING_SCHEDULE_INTERVAL",
        "*/30 * * * *",
        parse.cron,
        "Schedule of the report e-mails.",
    )
