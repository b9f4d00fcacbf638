"""Where data comes in and goes out: the collector that receives events, the activation channels
(Klaviyo, Meta) segments are sent to, and the APIs ELT pipelines read.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdpflow.settings import parse
from cdpflow.settings.declare import setting


@dataclass(frozen=True)
class CollectorSettings:
    """Where `cdpflow collector` listens, and the limits that protect it."""

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


@dataclass(frozen=True)
class ActivationSettings:
    """API versions and retry limits of the activation channels."""

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


@dataclass(frozen=True)
class EltSettings:
    """API versions, retries and waits of ELT pipelines' sources."""

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
