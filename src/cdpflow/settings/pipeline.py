"""How the pipeline runs: the lake, the batch engine and its resources, how events are flattened
and sessions and conversions computed, and housekeeping of files and tasks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cdpflow.settings import parse
from cdpflow.settings.declare import setting


@dataclass(frozen=True)
class PipelineSettings:
    """The lake, the engine, the events and analytics jobs, housekeeping."""

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
        "Memory of DuckDB on this machine (events, compression, ELT merges, the query side) before"
        " it spills to disk; Spark sizes its executors from CDPFLOW_SPARK_CONF.",
    )
    engine_threads: int = setting(
        "CDPFLOW_ENGINE_THREADS",
        str(os.cpu_count() or 1),
        parse.whole_number(1, "threads"),
        "DuckDB's threads on this machine (worker processes of events_incremental); Spark's"
        " parallelism comes from CDPFLOW_SPARK_MASTER and CDPFLOW_SPARK_CONF.",
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
        "Memory of the analytics warehouse (dbt on DuckDB, whatever the batch engine) before it"
        " spills to disk.",
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
