"""Airflow Connections turned into the plain values cdpflow's jobs take (the Airflow edge only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from cdpflow.errors import TerminalError
from cdpflow.settings import Settings

# Connection extras that are libpq parameters; anything else in `extra` is Airflow's own.
_LIBPQ_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options")


class ConnectionNotUsable(TerminalError):
    def __init__(self, conn_id: str, detail: str) -> None:
        self.conn_id = conn_id
        super().__init__(f"Airflow connection `{conn_id}` cannot be used: {detail}.")


def postgres_url(conn_id: str, *, get_connection: Any = None) -> str:
    """The postgresql:// URL of Airflow connection `conn_id` (its password percent-encoded).

    Pass it to a job's `db_url`; the job masks the password wherever it shows the URL.
    """
    if get_connection is None:
        from airflow.sdk import BaseHook

        get_connection = BaseHook.get_connection
    conn = get_connection(conn_id)
    conn_type = (getattr(conn, "conn_type", None) or "postgres").lower()
    if conn_type not in ("postgres", "postgresql"):
        raise ConnectionNotUsable(conn_id, f"its type is `{conn_type}`, not `postgres`")
    if not conn.host:
        raise ConnectionNotUsable(conn_id, "it has no host")
    user = quote(conn.login or "", safe="")
    password = quote(conn.password or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = f"[{conn.host}]" if ":" in conn.host else conn.host
    port = f":{int(conn.port)}" if conn.port else ""
    database = quote(conn.schema or "", safe="")
    extras = getattr(conn, "extra_dejson", None) or {}
    query = urlencode({k: str(extras[k]) for k in _LIBPQ_EXTRAS if k in extras})
    return f"postgresql://{auth}{host}{port}/{database}" + (f"?{query}" if query else "")


def job_options(dag_id: str, settings: Settings, *, get_connection: Any = None) -> dict[str, Any]:
    """Extra keyword arguments of job `dag_id`'s `run` that only the Airflow edge can supply.

    delete_idle_db_connections: the URL of Airflow connection CDPFLOW_IDLE_DB_CONN_ID, which
    then takes the place of CDPFLOW_IDLE_DB_URL.
    """
    if dag_id == "delete_idle_db_connections" and settings.idle_db_conn_id:
        conn_id = settings.idle_db_conn_id
        return {"db_url": postgres_url(conn_id, get_connection=get_connection)}
    return {}
