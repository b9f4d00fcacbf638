"""Which PostgreSQL delete_idle_db_connections cleans up and which of its connections it ends."""

from __future__ import annotations

from dataclasses import dataclass

from cdpflow.settings import parse
from cdpflow.settings.declare import setting


@dataclass(frozen=True)
class IdleConnectionSettings:
    """The database, the idle threshold and which sessions may be ended."""

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
