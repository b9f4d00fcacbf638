"""One typed Settings object, built once at the edge (CLI, DAG parse, collector start).

Layers, later wins: defaults, `$CDPFLOW_HOME/cdpflow.yaml`, environment variables, and Airflow
Variables when running under Airflow. Every value is parsed at load, so a bad one fails there,
naming the key and the value, instead of deep inside a job. A value that may be a secret (of an
unknown key, a key named like a password or token, or one that looks generated) is never shown
in such an error, only its length (`hidden_value`).

Each setting is declared once, as a field of `Settings` made by `setting(...)`: its key, its
default as a user would write it, its parser and its documentation. `SETTINGS` is derived from
those fields, so the registry and the dataclass cannot disagree, and `Settings(home=...)` built
directly holds the documented defaults.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from cdpflow.errors import ConfigError
from cdpflow.settings import parse
from cdpflow.settings.mask import MASK, hidden_value, mask_url, may_be_secret
from cdpflow.settings.parse import CLICK_IDS, ENGINES

__all__ = [
    "CLICK_IDS",
    "ENGINES",
    "MASK",
    "SETTINGS",
    "Setting",
    "Settings",
    "load_settings",
    "mask_url",
    "written",
]

_SPEC = "cdpflow_setting"


@dataclass(frozen=True)
class Setting:
    """How one key is named, defaulted, parsed and shown."""

    key: str
    default: Any  # as a user would write it; None: derived at load (the lake under the home)
    parse: Callable[[str, Any], Any]
    doc: str
    secret: bool = False
    attr: str = ""  # the Settings field, filled in from the declaration


def setting(
    key: str,
    default: Any,
    parser: Callable[[str, Any], Any],
    doc: str,
    *,
    secret: bool = False,
    in_repr: bool = True,
) -> Any:
    """Declare a Settings field: its default is `default` parsed, as `load_settings` would.

    `secret` masks the value wherever it is shown; `in_repr=False` keeps a value that is shown
    masked (a URL with a password) out of the dataclass repr.
    """
    spec = Setting(key, default, parser, doc, secret)
    metadata = {_SPEC: spec}
    shown = in_repr and not secret
    if default is None:
        return field(default="", repr=shown, metadata=metadata)
    value = parser(key, default)
    if isinstance(value, Mapping | list | dict):
        return field(default_factory=lambda: parser(key, default), repr=shown, metadata=metadata)
    return field(default=value, repr=shown, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one deployment. Build with `load_settings`."""

    home: Path
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
    # cdpflow's own
    lake_url: str = setting(
        "CDPFLOW_LAKE_URL",
        None,
        parse.lake_url,
        "Lake location: a local path (default $CDPFLOW_HOME/lake) or an fsspec URL.",
    )
    engine: str = setting(
        "CDPFLOW_ENGINE",
        "duckdb",
        parse.engine_name,
        "Batch engine of the heavy jobs: duckdb or spark (cdpflow sql stays on DuckDB).",
    )
    spark_master: str = setting(
        "CDPFLOW_SPARK_MASTER",
        "local[*]",
        parse.stripped,
        "Spark master when CDPFLOW_ENGINE=spark: local[N], spark://host:7077 or yarn.",
    )
    spark_conf: Mapping[str, str] = setting(
        "CDPFLOW_SPARK_CONF",
        "",
        parse.spark_conf,
        "Extra Spark settings, comma-separated spark.*=value pairs.",
    )
    engine_memory_bytes: int = setting(
        "CDPFLOW_ENGINE_MEMORY_BYTES",
        "1_000_000_000",
        parse.whole_number(100_000_000, "bytes"),
        "Memory the engine may use before spilling to disk.",
    )
    engine_threads: int = setting(
        "CDPFLOW_ENGINE_THREADS",
        str(os.cpu_count() or 1),
        parse.whole_number(1, "threads"),
        "Threads the engine may use.",
    )
    max_event_bytes: int = setting(
        "CDPFLOW_MAX_EVENT_BYTES",
        "32_768",
        parse.whole_number(1024, "bytes"),
        "An event larger than this is quarantined (Segment's limit is 32 KB).",
    )
    chunk_bytes: int = setting(
        "CDPFLOW_CHUNK_BYTES",
        "64_000_000",
        parse.whole_number(1_000_000, "bytes"),
        "Uncompressed raw bytes flattened per chunk (and about a quarter of it, compressed, per"
        " commit); bounds memory.",
    )
    dedup_window_days: int = setting(
        "CDPFLOW_DEDUP_WINDOW_DAYS",
        "1",
        parse.whole_number(0, "days"),
        "Days either side of a new event's date searched for an earlier copy of it.",
    )
    analytics_memory_bytes: int = setting(
        "CDPFLOW_ANALYTICS_MEMORY_BYTES",
        "4_000_000_000",
        parse.whole_number(100_000_000, "bytes"),
        "Memory the analytics models (dbt on the engine) may use before spilling to disk.",
    )
    session_timeout_minutes: int = setting(
        "CDPFLOW_SESSION_TIMEOUT_MINUTES",
        "30",
        parse.whole_number(1, "minutes"),
        "A session ends after more than this many minutes without events.",
    )
    session_max_hours: int = setting(
        "CDPFLOW_SESSION_MAX_HOURS",
        "24",
        parse.whole_number(1, "hours"),
        "A session runs for at most this long; a longer visit is cut every that many hours.",
    )
    session_use_tracker_id: bool = setting(
        "CDPFLOW_SESSION_USE_TRACKER_ID",
        "false",
        parse.boolean,
        "Also start a session where the tracker's own session id changes (Blotout sends one).",
    )
    conversion_events: tuple[str, ...] = setting(
        "CDPFLOW_CONVERSION_EVENTS",
        "Order Completed,purchase,transaction",
        parse.values,
        "Event names that count as a purchase (comma-separated); one conversion per order_id.",
    )
    site_hosts: tuple[str, ...] = setting(
        "CDPFLOW_SITE_HOSTS",
        "",
        parse.values,
        "The shop's own hosts (comma-separated); a referrer on one of them is not a referral.",
    )
    compaction_target_bytes: int = setting(
        "CDPFLOW_COMPACTION_TARGET_BYTES",
        "128_000_000",
        parse.whole_number(1_000_000, "bytes"),
        "Size compression aims for when it rewrites a partition's small files.",
    )
    temp_retention_hours: int = setting(
        "CDPFLOW_TEMP_RETENTION_HOURS",
        "24",
        parse.whole_number(0, "hours"),
        "Age after which cleanup_temp_tables removes replaced files and leftovers.",
    )
    task_retries: int = setting(
        "CDPFLOW_TASK_RETRIES",
        "3",
        parse.whole_number(0, "retries"),
        "Retries of a failed Airflow task (with exponential backoff) before it fails.",
    )
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
        "Airflow's metadata DB (sqlite:///… or postgresql://…) billing reads task durations"
        " from; default: the SQLite DB of `cdpflow airflow`.",
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
    id_mapping_file: str = setting(
        "CDPFLOW_ID_MAPPING_FILE",
        "",
        parse.optional_path,
        "YAML declaring offline identity sources and id types (default"
        " $CDPFLOW_HOME/identity.yaml if present, else the sample shop export's mapping).",
    )
    id_click_ids: tuple[str, ...] = setting(
        "CDPFLOW_ID_CLICK_IDS",
        "",
        parse.click_ids,
        "Ad click ids that are identity edges (e.g. `gclid,fbclid`); none by default.",
    )
    id_max_links: int = setting(
        "CDPFLOW_ID_MAX_LINKS",
        "10",
        parse.whole_number(1, "identifiers"),
        "An identifier linked to more identifiers of one person-level type (user_id, email,"
        " phone, ...) than this is held out of merges and reported as a conflict.",
    )
    id_blocklist: tuple[str, ...] = setting(
        "CDPFLOW_ID_BLOCKLIST",
        "",
        parse.values,
        "Comma-separated identifier values that never link people (added to the built-in junk"
        " values such as `null`, `undefined`, `test@example.com`).",
    )
    idle_db_url: str = setting(
        "CDPFLOW_IDLE_DB_URL",
        "",
        parse.postgres_url,
        "PostgreSQL whose idle connections delete_idle_db_connections ends (password masked);"
        " empty: the job does nothing.",
        in_repr=False,
    )
    idle_db_conn_id: str = setting(
        "CDPFLOW_IDLE_DB_CONN_ID",
        "",
        parse.stripped,
        "Airflow connection naming that database instead; resolved only under Airflow.",
    )
    idle_threshold_minutes: float = setting(
        "CDPFLOW_IDLE_THRESHOLD_MINUTES",
        "30",
        parse.minutes,
        "A connection idle (or idle in transaction) longer than this is terminated; fractions"
        " allowed (`0.5` is 30 seconds).",
    )
    idle_include_other_users: bool = setting(
        "CDPFLOW_IDLE_INCLUDE_OTHER_USERS",
        "false",
        parse.boolean,
        "Also end other users' idle connections (needs pg_signal_backend and pg_read_all_stats).",
    )
    idle_include_replication: bool = setting(
        "CDPFLOW_IDLE_INCLUDE_REPLICATION",
        "false",
        parse.boolean,
        "Also end idle replication connections (walsenders).",
    )
    collector_host: str = setting(
        "CDPFLOW_COLLECTOR_HOST",
        "127.0.0.1",
        parse.stripped,
        "Address `cdpflow collector` listens on (`0.0.0.0` for every interface).",
    )
    collector_port: int = setting(
        "CDPFLOW_COLLECTOR_PORT",
        "8090",
        parse.whole_number(1, "port"),
        "Port `cdpflow collector` listens on.",
    )
    collector_max_body_bytes: int = setting(
        "CDPFLOW_COLLECTOR_MAX_BODY_BYTES",
        "500_000",
        parse.whole_number(1024, "bytes"),
        "A request body larger than this (as sent, and again after gzip decoding) gets 413.",
    )
    collector_file_bytes: int = setting(
        "CDPFLOW_COLLECTOR_FILE_BYTES",
        "64_000_000",
        parse.whole_number(1024, "bytes"),
        "The collector publishes its open raw file at this compressed size (and at every hour).",
    )
    collector_anonymize_ip: bool = setting(
        "CDPFLOW_COLLECTOR_ANONYMIZE_IP",
        "false",
        parse.boolean,
        "Store client IPs with the last octet (IPv4) or last 80 bits (IPv6) zeroed.",
    )
    collector_max_header_bytes: int = setting(
        "CDPFLOW_COLLECTOR_MAX_HEADER_BYTES",
        "32_768",
        parse.whole_number(1024, "bytes"),
        "A request whose request line and headers are larger than this gets 431.",
    )
    collector_header_timeout_seconds: int = setting(
        "CDPFLOW_COLLECTOR_HEADER_TIMEOUT_SECONDS",
        "10",
        parse.whole_number(1, "seconds"),
        "A connection that has not sent a request's headers this long after it opened (or after"
        " the previous answer) is closed.",
    )
    collector_body_timeout_seconds: int = setting(
        "CDPFLOW_COLLECTOR_BODY_TIMEOUT_SECONDS",
        "30",
        parse.whole_number(1, "seconds"),
        "A request body not complete this long after its headers gets 408 and the connection"
        " is closed.",
    )
    collector_max_connections: int = setting(
        "CDPFLOW_COLLECTOR_MAX_CONNECTIONS",
        "4096",
        parse.whole_number(16, "connections"),
        "With this many connections open, further requests get 503 (the SDK retries); the"
        " collector raises its open-file limit to fit.",
    )
    collector_cors_origins: tuple[str, ...] = setting(
        "CDPFLOW_COLLECTOR_CORS_ORIGINS",
        "*",
        parse.values,
        "Origins browsers may send events from (comma-separated; `*` for any; empty for none).",
    )
    klaviyo_revision: str = setting(
        "CDPFLOW_KLAVIYO_REVISION",
        "2026-07-15",
        parse.stripped,
        "Klaviyo API revision sent in the `revision` header of every Klaviyo request.",
    )
    meta_graph_api_version: str = setting(
        "CDPFLOW_META_GRAPH_API_VERSION",
        "v25.0",
        parse.graph_api_version,
        "Meta Graph API version in the path of every Meta request (`/v25.0/...`).",
    )
    activation_drift_percent: int = setting(
        "CDPFLOW_ACTIVATION_DRIFT_PERCENT",
        "5",
        parse.whole_number(0, "percent"),
        "activation_stats: drift (members acknowledged vs. the size the channel reports) beyond"
        " this percentage marks a destination `drift` and is e-mailed.",
    )
    activation_http_attempts: int = setting(
        "CDPFLOW_ACTIVATION_HTTP_ATTEMPTS",
        "6",
        parse.whole_number(1, "attempts"),
        "Attempts of one channel request on throttling (429) and server faults (5xx) before the"
        " run fails; acknowledged batches are kept and a re-run resumes.",
    )
    activation_max_wait_seconds: int = setting(
        "CDPFLOW_ACTIVATION_MAX_WAIT_SECONDS",
        "60",
        parse.whole_number(0, "seconds"),
        "Longest wait between attempts of a channel request (a longer Retry-After is cut to it).",
    )
    shopify_api_version: str = setting(
        "CDPFLOW_SHOPIFY_API_VERSION",
        "2025-10",
        parse.shopify_api_version,
        "Shopify Admin API version in the URL of every request of a shopify ELT pipeline.",
    )
    elt_http_attempts: int = setting(
        "CDPFLOW_ELT_HTTP_ATTEMPTS",
        "8",
        parse.whole_number(1, "attempts"),
        "Attempts of one source API request of an ELT pipeline on throttling (429) and server"
        " faults (5xx) before the run fails, committing nothing.",
    )
    airbyte_poll_seconds: int = setting(
        "CDPFLOW_AIRBYTE_POLL_SECONDS",
        "30",
        parse.whole_number(0, "seconds"),
        "How often an airbyte pipeline asks Airbyte whether its sync job has finished (the"
        " Airflow sensor's poke interval; between pokes the sensor holds no worker slot).",
    )
    airbyte_timeout_seconds: int = setting(
        "CDPFLOW_AIRBYTE_TIMEOUT_SECONDS",
        "86_400",
        parse.whole_number(1, "seconds"),
        "An airbyte pipeline stops waiting for its sync job after this long (the job is left"
        " running in Airbyte; the next run attaches to it).",
    )
    airbyte_http_attempts: int = setting(
        "CDPFLOW_AIRBYTE_HTTP_ATTEMPTS",
        "6",
        parse.whole_number(1, "attempts"),
        "Attempts of one Airbyte API request on throttling (429), server faults (5xx) and"
        " dropped connections, waiting at least its Retry-After, before the run fails.",
    )

    origins: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.lake_url:  # the documented default: the lake under the home
            object.__setattr__(self, "lake_url", str(Path(self.home) / "lake"))

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


SETTINGS: tuple[Setting, ...] = tuple(
    replace(f.metadata[_SPEC], attr=f.name) for f in fields(Settings) if _SPEC in f.metadata
)
_BY_KEY = {s.key: s for s in SETTINGS}
_BY_ATTR = {s.attr: s for s in SETTINGS}


def written(value: Any) -> str:
    """A parsed value as a user would write it again (an environment variable's text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, Mapping):  # key=value pairs
        return ",".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
        )
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _shown(setting: Setting, value: Any) -> str:
    if setting.secret:
        return MASK if value else ""
    text = str(value) if isinstance(value, (bool, datetime)) else written(value)
    if "://" in text:
        return mask_url(text)
    return text


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
    return Settings(home=home_path, origins=origins, **values)


def _parse(setting: Setting, raw: Any) -> Any:
    try:
        return setting.parse(setting.key, raw)
    except ConfigError as err:
        if not (setting.secret or may_be_secret(setting.key, raw)):
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
