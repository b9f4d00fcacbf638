"""delete_idle_db_connections: end PostgreSQL connections left idle, so they stop holding slots.

A connection is terminated when it has been `idle` or `idle in transaction` for longer than
CDPFLOW_IDLE_THRESHOLD_MINUTES, and it is a client backend of the job's own database user. Other
users' connections (CDPFLOW_IDLE_INCLUDE_OTHER_USERS) and idle replication connections
(CDPFLOW_IDLE_INCLUDE_REPLICATION) are only listed as skipped unless enabled; the job's own
connection, active queries and background processes are never touched. The database is
CDPFLOW_IDLE_DB_URL, or the URL the Airflow edge resolves from CDPFLOW_IDLE_DB_CONN_ID.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cdpflow.jobs import Interval
from cdpflow.postgres.client import (
    CLIENT_BACKEND,
    REPLICATION_BACKEND,
    Backend,
    PermissionDenied,
    PostgresClient,
)
from cdpflow.settings import Settings, mask_url

log = logging.getLogger(__name__)
JOB = "delete_idle_db_connections"
URL_KEY = "CDPFLOW_IDLE_DB_URL"


@dataclass
class IdleConnectionsResult:
    dry_run: bool = False
    database: str = ""  # the URL, password masked
    threshold_seconds: float = 0.0
    own_pid: int | None = None
    terminated: list[Backend] = field(default_factory=list)
    skipped: list[tuple[Backend, str]] = field(default_factory=list)  # (backend, why)
    not_run: str = ""  # why the job did nothing at all
    seconds: float = 0.0

    def summary(self) -> str:
        if self.not_run:
            return f"{JOB}: nothing done: {self.not_run}"
        verb = "would terminate" if self.dry_run else "terminated"
        head = (
            f"{JOB}: {verb} {len(self.terminated):,} connection(s) idle over "
            f"{self.threshold_seconds:,.0f}s on {self.database}; "
            f"skipped {len(self.skipped):,}."
        )
        lines = [head]
        lines += [f"  {verb} {b.describe()}" for b in self.terminated]
        lines += [f"  skipped {b.describe()} ({why})" for b, why in self.skipped]
        return "\n".join(lines)


def skip_reason(
    backend: Backend,
    current_user: str,
    *,
    include_other_users: bool,
    include_replication: bool,
) -> str | None:
    """Why an idle backend must be left alone under these settings, or None to terminate it."""
    if backend.backend_type == REPLICATION_BACKEND:
        if not include_replication:
            return "replication connection; CDPFLOW_IDLE_INCLUDE_REPLICATION is off"
    elif backend.backend_type != CLIENT_BACKEND:
        return f"a `{backend.backend_type}` process, not a client connection"
    if backend.user != current_user and not include_other_users:
        return (
            f"user `{backend.user}`, not `{current_user}`; CDPFLOW_IDLE_INCLUDE_OTHER_USERS is off"
        )
    return None


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    dry_run: bool = False,
    db_url: str | None = None,
    db_source: str | None = None,
) -> IdleConnectionsResult:
    """Terminate connections idle past the threshold (list them only, with `dry_run`).

    `interval` and `now` are accepted like every job's but unused: idleness is measured by the
    database server's clock, at the moment of the run.

    Args:
        db_url: a URL resolved by the Airflow edge from CDPFLOW_IDLE_DB_CONN_ID; overrides
            CDPFLOW_IDLE_DB_URL.
        db_source: how errors name where `db_url` came from (default: the Airflow connection).

    Raises:
        PostgresConnectError: the server was unreachable (retryable); nothing was terminated.
        PostgresRefusedError: the URL was refused (credentials, database); nothing was terminated.
    """
    started = time.monotonic()
    threshold = settings.idle_threshold_minutes * 60
    result = IdleConnectionsResult(dry_run=dry_run, threshold_seconds=threshold)
    if db_url:
        url = db_url
        source = db_source or f"Airflow connection `{settings.idle_db_conn_id}`"
    elif settings.idle_db_url:
        url, source = settings.idle_db_url, URL_KEY
    else:
        result.not_run = (
            f"CDPFLOW_IDLE_DB_CONN_ID is `{settings.idle_db_conn_id}`, which only the Airflow DAG"
            f" resolves; set {URL_KEY} to run this job outside Airflow."
            if settings.idle_db_conn_id
            else f"no database configured; set {URL_KEY} (or CDPFLOW_IDLE_DB_CONN_ID under"
            " Airflow)."
        )
        log.info(result.summary())
        return result
    result.database = mask_url(url)

    with PostgresClient.connect(url, source=source, application_name=f"cdpflow {JOB}") as client:
        result.own_pid = client.own_pid
        candidates = client.idle_backends(threshold)
        for done, backend in enumerate(candidates, 1):
            why = skip_reason(
                backend,
                client.current_user,
                include_other_users=settings.idle_include_other_users,
                include_replication=settings.idle_include_replication,
            )
            if why is None and not dry_run:
                why = _terminate(client, backend)
            if why is None:
                result.terminated.append(backend)
            else:
                result.skipped.append((backend, why))
            if progress:
                progress(done, len(candidates))
    result.seconds = time.monotonic() - started
    log.info(result.summary())
    return result


def _terminate(client: PostgresClient, backend: Backend) -> str | None:
    """Terminate one backend; the reason it was left alone if that did not happen."""
    try:
        if client.terminate(backend):
            return None
        return "became active or disconnected before it could be terminated"
    except PermissionDenied as err:
        return f"permission denied: {' '.join(str(err).split())}"
