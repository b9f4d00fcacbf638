"""What running a deployment needs beside the pipeline: the SMTP server for every e-mail, the
prices and sources of the monthly cost report, and where the Airflow password is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdpflow.settings import parse
from cdpflow.settings.declare import setting


@dataclass(frozen=True)
class OperationsSettings:
    """E-mail, the cost report (billing) and the secrets store."""

    smtp_host: str = setting("CDPFLOW_SMTP_HOST", "", parse.stripped, "SMTP server for e-mails.")
    smtp_port: int = setting("CDPFLOW_SMTP_PORT", "25", parse.whole_number(1, "port"), "SMTP port.")
    smtp_user: str = setting("CDPFLOW_SMTP_USER", "", parse.stripped, "SMTP login user (optional).")
    smtp_password: str = setting(
        "CDPFLOW_SMTP_PASSWORD", "", parse.stripped, "SMTP login password.", secret=True
    )
    smtp_starttls: bool = setting(
        "CDPFLOW_SMTP_STARTTLS",
        "false",
        parse.boolean,
        "Upgrade the SMTP connection with STARTTLS.",
    )
    smtp_from: str = setting(
        "CDPFLOW_SMTP_FROM",
        "cdpflow@localhost",
        parse.email,
        "Sender address of cdpflow's e-mails.",
    )
    billing_email: str = setting(
        "CDPFLOW_BILLING_EMAIL",
        "",
        parse.email,
        "Who receives the monthly cost report (default: AIRFLOW_DAG_FAILED_EMAIL).",
    )
    airflow_db_url: str = setting(
        "CDPFLOW_AIRFLOW_DB_URL",
        "",
        parse.stripped,
        "Airflow's metadata DB (sqlite:///… or postgresql[+driver]://…) billing reads task"
        " durations from; default: the SQLite DB of `cdpflow airflow`.",
    )
    instance_type: str = setting(
        "CDPFLOW_INSTANCE_TYPE",
        "",
        parse.stripped,
        "Instance type of the machine running the jobs (default: EMR_EC2_INSTANCE_TYPE).",
    )
    instance_hourly_prices: Mapping[str, float] = setting(
        "CDPFLOW_INSTANCE_HOURLY_PRICES",
        "m4.large=0.10,m5.large=0.096,m5.xlarge=0.192,r5.large=0.126,r5.xlarge=0.252",
        parse.prices,
        "USD per hour by instance type (AWS us-west-2 on-demand Linux by default).",
    )
    storage_gb_month_price: float = setting(
        "CDPFLOW_STORAGE_GB_MONTH_PRICE",
        "0.023",
        parse.price,
        "USD per GB-month of lake storage (S3 Standard by default).",
    )
    aws_cost_tag: str = setting(
        "CDPFLOW_AWS_COST_TAG",
        "",
        parse.cost_tag,
        "Cost allocation tag `key=value` of the deployment; with AWS credentials, billing adds"
        " the month's figure from AWS Cost Explorer.",
    )
    secrets_backend: str = setting(
        "CDPFLOW_SECRETS_BACKEND",
        "file",
        parse.one_of("file", "aws"),
        "Where the Airflow admin password is kept: `file` ($CDPFLOW_HOME/secrets.json, mode 600)"
        " or `aws` (AWS Secrets Manager, secret `airflow_password`, region AWS_REGION).",
    )
    aws_secrets_endpoint: str = setting(
        "CDPFLOW_AWS_SECRETS_ENDPOINT",
        "",
        parse.http_url,
        "Secrets Manager endpoint override (a VPC endpoint or a test server).",
    )
    aws_ce_endpoint: str = setting(
        "CDPFLOW_AWS_CE_ENDPOINT",
        "",
        parse.http_url,
        "Cost Explorer endpoint override (a VPC endpoint or a test server).",
    )
