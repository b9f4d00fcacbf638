"""A small PostgreSQL client for upkeep jobs: list idle backends, terminate them, read the task
tries of an Airflow metadata DB (billing).

The only module that imports psycopg. Every message names where the URL came from (a setting or
an Airflow connection) and shows it with its password masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from cdpflow.errors import TerminalError, TransientError
from cdpflow.settings import MASK, mask_url

try:
    import psycopg
    import psycopg.sql
    from psycopg.rows import dict_row
except ImportError as err:  # pragma: no cover - psycopg is a dependency of cdpflow
    raise ImportError("PostgreSQL support needs psycopg: pip install 'psycopg[binary]'") from err

IDLE_STATES = ("idle", "idle in transaction")
CLIENT_BACKEND = "client backend"
REPLICATION_BACKEND = "walsender"
# SQLSTATE classes after which retrying the same URL will not help: bad credentials, no such
# database, no permission to connect.
_TERMINAL_SQLSTATE_PREFIXES = ("28", "3D", "42")

_IDLE_SQL = """
SELECT pid,
       usename AS user,
       coalesce(application_name, '') AS application_name,
       state,
       coalesce(backend_type, '') AS backend_type,
       datname AS database,
       host(client_addr) AS client_addr,
       state_change,
       extract(epoch FROM clock_timestamp() - state_change)::float8 AS idle_seconds
FROM pg_stat_activity
WHERE state = ANY(%(states)s)
  AND state_change < clock_timestamp() - make_interval(secs => %(seconds)s)
  AND pid <> pg_backend_pid()
ORDER BY state_change, pid
"""
# Terminate only if the backend is still in the idle spell that was listed: one that ran a
# query since then has a newer state_change and is left alone.
_TERMINATE_SQL = """
SELECT pg_terminate_backend(pid) AS terminated
FROM pg_stat_activity
WHERE pid = %(pid)s AND state = ANY(%(states)s) AND state_change = %(state_change)s
"""


@dataclass(frozen=True)
class Backend:
    """One server process serving a connection, as pg_stat_activity shows it."""

    pid: int
    user: str
    application_name: str
    state: str
    backend_type: str
    database: str | None
    client_addr: str | None
    state_change: datetime
    idle_seconds: float

    def describe(self) -> str:
        where = f" from {self.client_addr}" if self.client_addr else ""
        app = f" app `{self.application_name}`" if self.application_name else ""
        return (
            f"pid {self.pid} user `{self.user}`{app} db `{self.database or ''}`{where}: "
            f"{self.state} for {self.idle_seconds:,.0f}s"
        )


class PostgresConnectError(TransientError):
    """The server could not be reached; the same URL may work later."""

    def __init__(self, source: str, url: str, detail: str) -> None:
        self.source = source
        self.url = url
        super().__init__(
            f"Could not connect to the PostgreSQL of {source} (`{url}`): {_sentence(detail)} "
            "Nothing was terminated; the run can be retried."
        )


class PostgresRefusedError(TerminalError):
    """The server refused the URL (credentials, database name, permissions): fix it first."""

    def __init__(self, source: str, url: str, detail: str) -> None:
        self.source = source
        self.url = url
        super().__init__(
            f"The PostgreSQL of {source} (`{url}`) refused the connection: {_sentence(detail)} "
            f"Nothing was terminated; fix {source} and re-run."
        )


class Connection:
    """Owns one psycopg connection (`_conn`): closed by `close` or at the end of a `with` block."""

    _conn: Any

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PostgresClient(Connection):
    """One autocommit connection to a PostgreSQL server, opened by `connect`."""

    def __init__(self, conn: Any, source: str, shown_url: str) -> None:
        self._conn = conn
        self.source = source
        self.shown_url = shown_url
        row = conn.execute("SELECT pg_backend_pid() AS pid, current_user AS user").fetchone()
        self.own_pid: int = row["pid"]
        self.current_user: str = row["user"]

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        source: str,
        application_name: str = "cdpflow",
        connect_timeout: int = 10,
    ) -> PostgresClient:
        """Connect to `url`; `source` (e.g. the setting's key) is named in every error.

        Raises:
            PostgresConnectError: the server was not reachable (retryable).
            PostgresRefusedError: credentials, database or permissions were refused.
        """
        shown = mask_url(url)
        try:
            conn = psycopg.connect(
                url,
                autocommit=True,
                row_factory=dict_row,
                application_name=application_name,
                connect_timeout=connect_timeout,
            )
        except psycopg.OperationalError as err:
            detail = _scrub(str(err), url)
            if (err.sqlstate or "").startswith(_TERMINAL_SQLSTATE_PREFIXES) or _refused(detail):
                raise PostgresRefusedError(source, shown, detail) from None
            raise PostgresConnectError(source, shown, detail) from None
        except psycopg.Error as err:
            raise PostgresRefusedError(source, shown, _scrub(str(err), url)) from None
        try:
            return cls(conn, source, shown)
        except BaseException:
            conn.close()
            raise

    def idle_backends(self, older_than_seconds: float) -> list[Backend]:
        """Backends other than this one, idle (or idle in transaction) for longer than that."""
        rows = self._conn.execute(
            _IDLE_SQL, {"states": list(IDLE_STATES), "seconds": older_than_seconds}
        ).fetchall()
        return [Backend(**row) for row in rows]

    def terminate(self, backend: Backend) -> bool:
        """End the backend if it is still in the idle spell listed; False if it moved on.

        Raises:
            psycopg.errors.InsufficientPrivilege: this user may not signal that backend.
        """
        if backend.pid == self.own_pid:
            raise ValueError("refusing to terminate this client's own connection")
        row = self._conn.execute(
            _TERMINATE_SQL,
            {
                "pid": backend.pid,
                "states": list(IDLE_STATES),
                "state_change": backend.state_change,
            },
        ).fetchone()
        return bool(row and row["terminated"])

    def task_tries(self, tables: tuple[str, ...]) -> list[tuple[object, ...]]:
        """(dag_id, start_date, end_date, duration) of every row of those of Airflow's task
        tables that exist (task_instance_history is Airflow 2.10's and later)."""
        rows: list[tuple[object, ...]] = []
        for table in tables:
            exists = self._conn.execute("SELECT to_regclass(%s) AS oid", [table]).fetchone()
            if exists["oid"] is None:
                continue
            query = psycopg.sql.SQL("SELECT dag_id, start_date, end_date, duration FROM {}")
            for row in self._conn.execute(query.format(psycopg.sql.Identifier(table))):
                rows.append((row["dag_id"], row["start_date"], row["end_date"], row["duration"]))
        return rows


PermissionDenied = psycopg.errors.InsufficientPrivilege


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def _refused(detail: str) -> bool:
    """Server-side FATALs (auth, unknown database or role) that psycopg reports without a code."""
    text = detail.lower()
    return "authentication failed" in text or "does not exist" in text or "no pg_hba" in text


def _scrub(text: str, url: str) -> str:
    """A driver message with the URL's password, should it appear, replaced by the mask."""
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    text = " ".join(text.split())
    return text.replace(str(password), MASK) if password else text
