"""One typed Settings object, built once at the edge (CLI, DAG parse, collector start).

Layers, later wins: defaults, `$CDPFLOW_HOME/cdpflow.yaml`, environment variables, and Airflow
Variables when running under Airflow. Every value is parsed at load, so a bad one fails there,
naming the key and the value, instead of deep inside a job. A value that may be a secret (of an
unknown key, a key named like a password or token, or one that looks generated) is never shown
in such an error, only its length (`hidden_value`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from cdpflow.cron import cron_problem
from cdpflow.errors import ConfigError

ENGINES = ("duckdb",)  # engines this release ships; "spark" joins when its engine lands
MASK = "********"
_SECRET_NAME = re.compile(r"PASSW|PWD|TOKEN|CREDENTIAL|(^|_)(SECRET|KEY)$", re.IGNORECASE)
_GENERATED = re.compile(r"(?=\S*[a-z])(?=\S*[A-Z])(?=\S*\d)\S{12,}")


def hidden_value(value: Any) -> str:
    """How a value that may be a secret appears in an error: its length only."""
    return f"<{len(str(value))} characters, hidden>"


def _may_be_secret(key: str, value: Any) -> bool:
    """A key named like a secret, or a value like a generated one (12+ characters without
    spaces that mix upper case, lower case and digits): a password pasted into the wrong key."""
    return bool(_SECRET_NAME.search(key) or _GENERATED.fullmatch(str(value).strip()))


def _text(key: str, raw: Any) -> str:
    return "" if raw is None else str(raw).strip()


def _cron(key: str, raw: Any) -> str:
    text = _text(key, raw)
    problem = cron_problem(text)
    if problem:
        raise ConfigError(key, raw, f"a cron expression or preset such as @daily ({problem})")
    return text


def _whole_number(minimum: int, unit: str) -> Callable[[str, Any], int]:
    def parse(key: str, raw: Any) -> int:
        text = _text(key, raw).replace("_", "")
        if isinstance(raw, bool) or not re.fullmatch(r"[+-]?\d+", text):
            raise ConfigError(key, raw, f"a whole number of {unit}")
        value = int(text)
        if value < minimum:
            raise ConfigError(key, raw, f"a whole number of {unit}, at least {minimum}")
        return value

    return parse


def _datetime(key: str, raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw
    try:
        return datetime.fromisoformat(_text(key, raw))
    except ValueError as err:
        raise ConfigError(key, raw, "a date and time like `1977-10-01 00:00:00`") from err


def _email(key: str, raw: Any) -> str:
    text = _text(key, raw)
    addresses = [a.strip() for a in text.split(",") if a.strip()]
    for address in addresses:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
            raise ConfigError(key, raw, "an email address (or a comma-separated list of them)")
    return ", ".join(addresses)


def _price(key: str, raw: Any) -> float:
    text = _text(key, raw)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(key, raw, "a price in USD, such as `0.023`")
    return value


def _prices(key: str, raw: Any) -> dict[str, float]:
    if isinstance(raw, Mapping):
        pairs = [(str(k), v) for k, v in raw.items()]
    else:
        pairs = [tuple(p.split("=", 1)) for p in _text(key, raw).split(",") if p.strip()]  # type: ignore[misc]
    out = {}
    for pair in pairs:
        if len(pair) != 2:
            expected = "instance=price pairs such as `m4.large=0.10,r5.xlarge=0.252`"
            raise ConfigError(key, raw, expected)
        out[str(pair[0]).strip()] = _price(key, pair[1])
    return out


def _cost_tag(key: str, raw: Any) -> str:
    text = _text(key, raw)
    if text and not re.fullmatch(r"[^=\s]+=[^=]*", text):
        raise ConfigError(key, raw, "a cost allocation tag as `key=value`, such as `app=cdpflow`")
    return text


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def parse(key: str, raw: Any) -> str:
        text = _text(key, raw).lower()
        if text not in allowed:
            raise ConfigError(key, raw, "one of: " + ", ".join(allowed))
        return text

    return parse


def _url(key: str, raw: Any) -> str:
    text = _text(key, raw)
    if text and not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(key, raw, "an http(s) URL such as `http://localhost:8088`")
    return text.rstrip("/")


def _engine(key: str, raw: Any) -> str:
    text = _text(key, raw).lower()
    if text not in ENGINES:
        raise ConfigError(key, raw, "one of: " + ", ".join(ENGINES))
    return text


CLICK_IDS = ("gclid", "fbclid", "msclkid", "ttclid")


def _click_ids(key: str, raw: Any) -> tuple[str, ...]:
    text = _text(key, raw).lower()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if any(n not in CLICK_IDS for n in names):
        raise ConfigError(key, raw, "a comma-separated list of: " + ", ".join(CLICK_IDS))
    return names


def _values(key: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list | tuple):
        return tuple(str(v).strip() for v in raw if str(v).strip())
    return tuple(v.strip() for v in _text(key, raw).split(",") if v.strip())


def _optional_path(key: str, raw: Any) -> str:
    text = _text(key, raw)
    return str(Path(text).expanduser()) if text else ""


def _lake_url(key: str, raw: Any) -> str:
    text = _text(key, raw)
    if not text:
        raise ConfigError(key, raw, "a local path or an fsspec URL such as s3://bucket/lake")
    if "://" in text and not text.startswith("file://"):
        return text.rstrip("/")
    return str(Path(text.removeprefix("file://")).expanduser().resolve())


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _boolean(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _text(key, raw).lower()
    if text not in _TRUE + _FALSE:
        raise ConfigError(key, raw, "one of: true, false, yes, no, 1, 0")
    return text in _TRUE


def _minutes(key: str, raw: Any) -> float:
    text = _text(key, raw).replace("_", "")
    if isinstance(raw, bool) or not re.fullmatch(r"\d+(\.\d*)?|\.\d+", text) or float(text) <= 0:
        raise ConfigError(key, raw, "a number of minutes above 0, such as `30` or `0.5`")
    return float(text)


def _postgres_url(key: str, raw: Any) -> str:
    text = _text(key, raw)
    if not text:
        return ""
    expected = "a PostgreSQL URL such as `postgresql://user:password@host:5432/dbname`"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as err:
        shown = re.sub(r"(://[^:/@]*:)[^@]*@", rf"\g<1>{MASK}@", text)
        raise ConfigError(key, shown, expected) from err
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(key, mask_url(text), expected)
    if re.search(r"(^|&)password=", parts.query):
        raise ConfigError(key, "(hidden)", "the password in the user part, where it is masked")
    return text


@dataclass(frozen=True)
class Setting:
    """How one key is named, defaulted, parsed and shown."""

    key: str
    attr: str
    default: Any
    parse: Callable[[str, Any], Any]
    doc: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("AIRBYTE_URL", "airbyte_url", "", _url, "Airbyte API used by ELT pipeline DAGs."),
    Setting(
        "AIRFLOW_DAG_FAILED_EMAIL",
        "airflow_dag_failed_email",
        "",
        _email,
        "Who is emailed when a task fails.",
    ),
    Setting(
        "AIRFLOW_START_DATE",
        "airflow_start_date",
        "1977-10-01 00:00:00",
        _datetime,
        "start_date of every DAG.",
    ),
    Setting("AWS_REGION", "aws_region", "us-west-2", _text, "AWS region of secrets and costs."),
    Setting(
        "COMPUTATION_WINDOW",
        "computation_window",
        "90",
        _whole_number(1, "days"),
        "Days of history the analytics models look back over.",
    ),
    Setting(
        "EMR_EC2_INSTANCE_TYPE",
        "emr_ec2_instance_type",
        "m4.large",
        _text,
        "Instance type of Spark workers (also prices billing).",
    ),
    Setting(
        "EVENTS_INCREMENTAL_SCHEDULE_INTERVAL",
        "events_incremental_schedule_interval",
        "0 * * * *",
        _cron,
        "Schedule of events_incremental.",
    ),
    Setting(
        "ID_STITCHING_INCREMENTAL_SCHEDULE_INTERVAL",
        "id_stitching_incremental_schedule_interval",
        "0 */4 * * *",
        _cron,
        "Schedule of id_stitching_incremental.",
    ),
    Setting("PRIVATE_SUBNET", "private_subnet", "", _text, "Subnet of Spark workers."),
    Setting(
        "SCHEDULE_INTERVAL_DELETE_IDLE_CONNECTIONS",
        "schedule_interval_delete_idle_connections",
        "0 */3 * * *",
        _cron,
        "Schedule of delete_idle_db_connections.",
    ),
    Setting("SUPERSET_BASE_URL", "superset_base_url", "", _url, "Superset the BI DAGs talk to."),
    Setting("SUPERSET_USERNAME", "superset_username", "", _text, "Superset API user."),
    Setting(
        "SUPERSET_PASSWORD", "superset_password", "", _text, "Superset API password.", secret=True
    ),
    Setting("SUPERSET_USER_EMAIL", "superset_user_email", "", _email, "Superset user's email."),
    Setting(
        "TAG_DBT_ANALYTICS", "tag_dbt_analytics", "", _text, "Release tag of analytics models."
    ),
    Setting(
        "TAG_DBT_CODE_GENERATOR",
        "tag_dbt_code_generator",
        "",
        _text,
        "Release tag of generated dbt models.",
    ),
    Setting("TAG_DBT_REVERSE_EL", "tag_dbt_reverse_el", "", _text, "Release tag of reverse-EL."),
    Setting(
        "TAG_SUPERSET_AUTOMATION",
        "tag_superset_automation",
        "",
        _text,
        "Release tag of Superset automation.",
    ),
    Setting(
        "USER_REPORTING_SCHEDULE_INTERVAL",
        "user_reporting_schedule_interval",
        "*/30 * * * *",
        _cron,
        "Schedule of the report e-mails.",
    ),
    # cdpflow's own
    Setting(
        "CDPFLOW_LAKE_URL",
        "lake_url",
        None,
        _lake_url,
        "Lake location: a local path (default $CDPFLOW_HOME/lake) or an fsspec URL.",
    ),
    Setting("CDPFLOW_ENGINE", "engine", "duckdb", _engine, "Engine that runs heavy work."),
    Setting(
        "CDPFLOW_ENGINE_MEMORY_BYTES",
        "engine_memory_bytes",
        "1_000_000_000",
        _whole_number(100_000_000, "bytes"),
        "Memory the engine may use before spilling to disk.",
    ),
    Setting(
        "CDPFLOW_ENGINE_THREADS",
        "engine_threads",
        str(os.cpu_count() or 1),
        _whole_number(1, "threads"),
        "Threads the engine may use.",
    ),
    Setting(
        "CDPFLOW_MAX_EVENT_BYTES",
        "max_event_bytes",
        "32_768",
        _whole_number(1024, "bytes"),
        "An event larger than this is quarantined (Segment's limit is 32 KB).",
    ),
    Setting(
        "CDPFLOW_CHUNK_BYTES",
        "chunk_bytes",
        "64_000_000",
        _whole_number(1_000_000, "bytes"),
        "Uncompressed raw bytes flattened per chunk (and about a quarter of it, compressed, per"
        " commit); bounds memory.",
    ),
    Setting(
        "CDPFLOW_DEDUP_WINDOW_DAYS",
        "dedup_window_days",
        "1",
        _whole_number(0, "days"),
        "Days either side of a new event's date searched for an earlier copy of it.",
    ),
    Setting(
        "CDPFLOW_ANALYTICS_MEMORY_BYTES",
        "analytics_memory_bytes",
        "4_000_000_000",
        _whole_number(100_000_000, "bytes"),
        "Memory the analytics models (dbt on the engine) may use before spilling to disk.",
    ),
    Setting(
        "CDPFLOW_SESSION_TIMEOUT_MINUTES",
        "session_timeout_minutes",
        "30",
        _whole_number(1, "minutes"),
        "A session ends after more than this many minutes without events.",
    ),
    Setting(
        "CDPFLOW_SESSION_MAX_HOURS",
        "session_max_hours",
        "24",
        _whole_number(1, "hours"),
        "A session runs for at most this long; a longer visit is cut every that many hours.",
    ),
    Setting(
        "CDPFLOW_SESSION_USE_TRACKER_ID",
        "session_use_tracker_id",
        "false",
        _boolean,
        "Also start a session where the tracker's own session id changes (Blotout sends one).",
    ),
    Setting(
        "CDPFLOW_CONVERSION_EVENTS",
        "conversion_events",
        "Order Completed,purchase,transaction",
        _values,
        "Event names that count as a purchase (comma-separated); one conversion per order_id.",
    ),
    Setting(
        "CDPFLOW_SITE_HOSTS",
        "site_hosts",
        "",
        _values,
        "The shop's own hosts (comma-separated); a referrer on one of them is not a referral.",
    ),
    Setting(
        "CDPFLOW_COMPACTION_TARGET_BYTES",
        "compaction_target_bytes",
        "128_000_000",
        _whole_number(1_000_000, "bytes"),
        "Size compression aims for when it rewrites a partition's small files.",
    ),
    Setting(
        "CDPFLOW_TEMP_RETENTION_HOURS",
        "temp_retention_hours",
        "24",
        _whole_number(0, "hours"),
        "Age after which cleanup_temp_tables removes replaced files and leftovers.",
    ),
    Setting(
        "CDPFLOW_TASK_RETRIES",
        "task_retries",
        "3",
        _whole_number(0, "retries"),
        "Retries of a failed Airflow task (with exponential backoff) before it fails.",
    ),
    Setting("CDPFLOW_SMTP_HOST", "smtp_host", "", _text, "SMTP server for e-mails."),
    Setting("CDPFLOW_SMTP_PORT", "smtp_port", "25", _whole_number(1, "port"), "SMTP port."),
    Setting("CDPFLOW_SMTP_USER", "smtp_user", "", _text, "SMTP login user (optional)."),
    Setting(
        "CDPFLOW_SMTP_PASSWORD", "smtp_password", "", _text, "SMTP login password.", secret=True
    ),
    Setting(
        "CDPFLOW_SMTP_STARTTLS",
        "smtp_starttls",
        "false",
        _boolean,
        "Upgrade the SMTP connection with STARTTLS.",
    ),
    Setting(
        "CDPFLOW_SMTP_FROM",
        "smtp_from",
        "cdpflow@localhost",
        _email,
        "Sender address of cdpflow's e-mails.",
    ),
    Setting(
        "CDPFLOW_BILLING_EMAIL",
        "billing_email",
        "",
        _email,
        "Who receives the monthly cost report (default: AIRFLOW_DAG_FAILED_EMAIL).",
    ),
    Setting(
        "CDPFLOW_AIRFLOW_DB_URL",
        "airflow_db_url",
        "",
        _text,
        "Airflow's metadata DB (sqlite:///… or postgresql://…) billing reads task durations"
        " from; default: the SQLite DB of `cdpflow airflow`.",
    ),
    Setting(
        "CDPFLOW_INSTANCE_TYPE",
        "instance_type",
        "",
        _text,
        "Instance type of the machine running the jobs (default: EMR_EC2_INSTANCE_TYPE).",
    ),
    Setting(
        "CDPFLOW_INSTANCE_HOURLY_PRICES",
        "instance_hourly_prices",
        "m4.large=0.10,m5.large=0.096,m5.xlarge=0.192,r5.large=0.126,r5.xlarge=0.252",
        _prices,
        "USD per hour by instance type (AWS us-west-2 on-demand Linux by default).",
    ),
    Setting(
        "CDPFLOW_STORAGE_GB_MONTH_PRICE",
        "storage_gb_month_price",
        "0.023",
        _price,
        "USD per GB-month of lake storage (S3 Standard by default).",
    ),
    Setting(
        "CDPFLOW_AWS_COST_TAG",
        "aws_cost_tag",
        "",
        _cost_tag,
        "Cost allocation tag `key=value` of the deployment; with AWS credentials, billing adds"
        " the month's figure from AWS Cost Explorer.",
    ),
    Setting(
        "CDPFLOW_SECRETS_BACKEND",
        "secrets_backend",
        "file",
        _choice("file", "aws"),
        "Where the Airflow admin password is kept: `file` ($CDPFLOW_HOME/secrets.json, mode 600)"
        " or `aws` (AWS Secrets Manager, secret `airflow_password`, region AWS_REGION).",
    ),
    Setting(
        "CDPFLOW_AWS_SECRETS_ENDPOINT",
        "aws_secrets_endpoint",
        "",
        _url,
        "Secrets Manager endpoint override (a VPC endpoint or a test server).",
    ),
    Setting(
        "CDPFLOW_AWS_CE_ENDPOINT",
        "aws_ce_endpoint",
        "",
        _url,
        "Cost Explorer endpoint override (a VPC endpoint or a test server).",
    ),
    Setting(
        "CDPFLOW_ID_MAPPING_FILE",
        "id_mapping_file",
        "",
        _optional_path,
        "YAML declaring offline identity sources and id types (default"
        " $CDPFLOW_HOME/identity.yaml if present, else the sample shop export's mapping).",
    ),
    Setting(
        "CDPFLOW_ID_CLICK_IDS",
        "id_click_ids",
        "",
        _click_ids,
        "Ad click ids that are identity edges (e.g. `gclid,fbclid`); none by default.",
    ),
    Setting(
        "CDPFLOW_ID_MAX_LINKS",
        "id_max_links",
        "10",
        _whole_number(1, "identifiers"),
        "An identifier linked to more identifiers of one person-level type (user_id, email,"
        " phone, ...) than this is held out of merges and reported as a conflict.",
    ),
    Setting(
        "CDPFLOW_ID_BLOCKLIST",
        "id_blocklist",
        "",
        _values,
        "Comma-separated identifier values that never link people (added to the built-in junk"
        " values such as `null`, `undefined`, `test@example.com`).",
    ),
    Setting(
        "CDPFLOW_IDLE_DB_URL",
        "idle_db_url",
        "",
        _postgres_url,
        "PostgreSQL whose idle connections delete_idle_db_connections ends (password masked);"
        " empty: the job does nothing.",
    ),
    Setting(
        "CDPFLOW_IDLE_DB_CONN_ID",
        "idle_db_conn_id",
        "",
        _text,
        "Airflow connection naming that database instead; resolved only under Airflow.",
    ),
    Setting(
        "CDPFLOW_IDLE_THRESHOLD_MINUTES",
        "idle_threshold_minutes",
        "30",
        _minutes,
        "A connection idle (or idle in transaction) longer than this is terminated; fractions"
        " allowed (`0.5` is 30 seconds).",
    ),
    Setting(
        "CDPFLOW_IDLE_INCLUDE_OTHER_USERS",
        "idle_include_other_users",
        "false",
        _boolean,
        "Also end other users' idle connections (needs pg_signal_backend and pg_read_all_stats).",
    ),
    Setting(
        "CDPFLOW_IDLE_INCLUDE_REPLICATION",
        "idle_include_replication",
        "false",
        _boolean,
        "Also end idle replication connections (walsenders).",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_HOST",
        "collector_host",
        "127.0.0.1",
        _text,
        "Address `cdpflow collector` listens on (`0.0.0.0` for every interface).",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_PORT",
        "collector_port",
        "8090",
        _whole_number(1, "port"),
        "Port `cdpflow collector` listens on.",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_MAX_BODY_BYTES",
        "collector_max_body_bytes",
        "500_000",
        _whole_number(1024, "bytes"),
        "A request body larger than this (as sent, and again after gzip decoding) gets 413.",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_FILE_BYTES",
        "collector_file_bytes",
        "64_000_000",
        _whole_number(1024, "bytes"),
        "The collector publishes its open raw file at this compressed size (and at every hour).",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_ANONYMIZE_IP",
        "collector_anonymize_ip",
        "false",
        _boolean,
        "Store client IPs with the last octet (IPv4) or last 80 bits (IPv6) zeroed.",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_MAX_HEADER_BYTES",
        "collector_max_header_bytes",
        "32_768",
        _whole_number(1024, "bytes"),
        "A request whose request line and headers are larger than this gets 431.",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_HEADER_TIMEOUT_SECONDS",
        "collector_header_timeout_seconds",
        "10",
        _whole_number(1, "seconds"),
        "A connection that has not sent a request's headers this long after it opened (or after"
        " the previous answer) is closed.",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_BODY_TIMEOUT_SECONDS",
        "collector_body_timeout_seconds",
        "30",
        _whole_number(1, "seconds"),
        "A request body not complete this long after its headers gets 408 and the connection"
        " is closed.",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_MAX_CONNECTIONS",
        "collector_max_connections",
        "4096",
        _whole_number(16, "connections"),
        "With this many connections open, further requests get 503 (the SDK retries); the"
        " collector raises its open-file limit to fit.",
    ),
    Setting(
        "CDPFLOW_COLLECTOR_CORS_ORIGINS",
        "collector_cors_origins",
        "*",
        _values,
        "Origins browsers may send events from (comma-separated; `*` for any; empty for none).",
    ),
)
_BY_KEY = {s.key: s for s in SETTINGS}
_BY_ATTR = {s.attr: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one deployment. Build with `load_settings`."""

    home: Path
    airbyte_url: str
    airflow_dag_failed_email: str
    airflow_start_date: datetime
    aws_region: str
    computation_window: int
    emr_ec2_instance_type: str
    events_incremental_schedule_interval: str
    id_stitching_incremental_schedule_interval: str
    private_subnet: str
    schedule_interval_delete_idle_connections: str
    superset_base_url: str
    superset_username: str
    superset_password: str = field(repr=False)
    superset_user_email: str = ""
    tag_dbt_analytics: str = ""
    tag_dbt_code_generator: str = ""
    tag_dbt_reverse_el: str = ""
    tag_superset_automation: str = ""
    user_reporting_schedule_interval: str = "*/30 * * * *"
    lake_url: str = ""
    engine: str = "duckdb"
    engine_memory_bytes: int = 1_000_000_000
    engine_threads: int = 1
    max_event_bytes: int = 32_768
    chunk_bytes: int = 64_000_000
    dedup_window_days: int = 1
    analytics_memory_bytes: int = 4_000_000_000
    session_timeout_minutes: int = 30
    session_max_hours: int = 24
    session_use_tracker_id: bool = False
    conversion_events: tuple[str, ...] = ("Order Completed", "purchase", "transaction")
    site_hosts: tuple[str, ...] = ()
    compaction_target_bytes: int = 128_000_000
    temp_retention_hours: int = 24
    task_retries: int = 3
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_starttls: bool = False
    smtp_from: str = "cdpflow@localhost"
    billing_email: str = ""
    airflow_db_url: str = ""
    instance_type: str = ""
    instance_hourly_prices: Mapping[str, float] = field(default_factory=dict)
    storage_gb_month_price: float = 0.023
    aws_cost_tag: str = ""
    secrets_backend: str = "file"
    aws_secrets_endpoint: str = ""
    aws_ce_endpoint: str = ""
    id_mapping_file: str = ""
    id_click_ids: tuple[str, ...] = ()
    id_max_links: int = 10
    id_blocklist: tuple[str, ...] = ()
    idle_db_url: str = field(default="", repr=False)
    idle_db_conn_id: str = ""
    idle_threshold_minutes: float = 30.0
    idle_include_other_users: bool = False
    idle_include_replication: bool = False
    collector_host: str = "127.0.0.1"
    collector_port: int = 8090
    collector_max_body_bytes: int = 500_000
    collector_file_bytes: int = 64_000_000
    collector_anonymize_ip: bool = False
    collector_max_header_bytes: int = 32_768
    collector_header_timeout_seconds: int = 10
    collector_body_timeout_seconds: int = 30
    collector_max_connections: int = 4096
    collector_cors_origins: tuple[str, ...] = ("*",)
    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def work_dir(self) -> Path:
        """Local scratch space (engine spill files, staging); never part of the lake."""
        return self.home / "work"

    def value_of(self, key: str) -> Any:
        return getattr(self, _BY_KEY[key].attr)

    def describe(self) -> list[tuple[str, str, str]]:
        """(key, shown value, origin) for every setting, with secrets masked."""
        rows = [("CDPFLOW_HOME", str(self.home), self.origins.get("CDPFLOW_HOME", "default"))]
        for s in SETTINGS:
            rows.append((s.key, _shown(s, self.value_of(s.key)), self.origins.get(s.key, "")))
        return rows


def _shown(setting: Setting, value: Any) -> str:
    if setting.secret:
        return MASK if value else ""
    if isinstance(value, tuple):
        text = ",".join(value)
    elif isinstance(value, Mapping):  # shown as it is written: key=value pairs
        text = ",".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
        )
    else:
        text = str(value)
    if "://" in text:
        return mask_url(text)
    return text


def mask_url(url: str) -> str:
    """Hide the password part of a URL's userinfo, which must never reach logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))


def load_settings(
    env: Mapping[str, str] | None = None,
    airflow_variables: Mapping[str, str | None] | None = None,
    home: str | Path | None = None,
) -> Settings:
    """Build the effective settings.

    Args:
        env: environment to read (defaults to `os.environ`); only documented keys are read.
        airflow_variables: Variables fetched by the Airflow edge; `None` values are ignored.
        home: overrides `$CDPFLOW_HOME`.

    Raises:
        ConfigError: a value does not parse, naming the key and the value.
    """
    env = os.environ if env is None else env
    home_origin = "argument" if home else ("env" if env.get("CDPFLOW_HOME") else "default")
    home_path = Path(home or env.get("CDPFLOW_HOME") or "cdpflow_home").expanduser().resolve()

    raw: dict[str, Any] = {s.key: s.default for s in SETTINGS}
    origins = {s.key: "default" for s in SETTINGS}
    origins["CDPFLOW_HOME"] = home_origin
    raw["CDPFLOW_LAKE_URL"] = str(home_path / "lake")

    config_file = home_path / "cdpflow.yaml"
    for key, value in _read_yaml(config_file).items():
        raw[key], origins[key] = value, config_file.name
    for s in SETTINGS:
        if s.key in env:
            raw[s.key], origins[s.key] = env[s.key], "env"
    for key, value in (airflow_variables or {}).items():
        if key in _BY_KEY and value is not None:
            raw[key], origins[key] = value, "airflow variable"

    values = {s.attr: _parse(s, raw[s.key]) for s in SETTINGS}
    known = {f.name for f in fields(Settings)}
    assert set(values) <= known, set(values) - known
    return Settings(home=home_path, origins=origins, **values)


def _parse(setting: Setting, raw: Any) -> Any:
    try:
        return setting.parse(setting.key, raw)
    except ConfigError as err:
        if not (setting.secret or _may_be_secret(setting.key, raw)):
            raise
        shown = hidden_value(raw)
        expected = err.expected.replace(str(raw), shown) if str(raw) else err.expected
        raise ConfigError(err.key, shown, expected) from None  # no chained message with it


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(str(path), "(file)", f"valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(str(path), type(data).__name__, "a mapping of setting names to values")
    out: dict[str, Any] = {}
    for name, value in data.items():
        setting = _BY_KEY.get(str(name)) or _BY_ATTR.get(str(name).lower())
        if setting is None:
            raise ConfigError(  # a typo'd name may hold a password: its value is not shown
                f"{path.name}: {name}",
                hidden_value(value),
                "a known setting name (see `cdpflow config` for the list)",
            )
        out[setting.key] = value
    return out
