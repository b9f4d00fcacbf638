"""Reading rows out of PostgreSQL as Arrow, for the `postgres` ELT type.

Rows come through a server-side cursor in batches of `batch_rows`, so a large table never sits
in memory as Python tuples; each batch becomes an Arrow record batch of the column's mapped type
(PG_TO_ARROW). Connections are read-only transactions in UTC. Errors name the pipeline and what
to fix, never the password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from cdpflow.errors import TerminalError, TransientError
from cdpflow.postgres.client import (
    _TERMINAL_SQLSTATE_PREFIXES,
    Connection,
    _refused,
    _scrub,
    _sentence,
)
from cdpflow.settings import mask_url

try:
    import psycopg
    from psycopg import sql
    from psycopg.postgres import types as pg_types
    from psycopg.types.string import TextLoader
except ImportError as err:  # pragma: no cover - psycopg is a dependency of cdpflow
    raise ImportError("PostgreSQL support needs psycopg: pip install 'psycopg[binary]'") from err

# PostgreSQL type name -> Arrow type. numeric(p, s) with p <= 38 becomes decimal128(p, s); a
# numeric without a precision, and every type not listed (enums, inet, money, ranges,
# user-defined), lands as its text. Arrays of listed types become Arrow lists.
PG_TO_ARROW: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "uuid": pa.string(),
    "json": pa.string(),  # the JSON text as stored
    "jsonb": pa.string(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "interval": pa.string(),  # as PostgreSQL writes it ("1 day 02:00:00"): months vary in length
    "bytea": pa.binary(),
}
_BY_OID = {pg_types.get(name).oid: arrow for name, arrow in PG_TO_ARROW.items()}  # type: ignore[union-attr]
_ARRAY_OF = {
    pg_types.get(name).array_oid: arrow  # type: ignore[union-attr]
    for name, arrow in PG_TO_ARROW.items()
}
_NUMERIC = pg_types.get("numeric").oid  # type: ignore[union-attr]
_TEXT_AS_IS = (
    "json",
    "jsonb",
    "uuid",
    "interval",
)  # loaded as their text, not parsed into Python objects


class PostgresSourceError(TerminalError):
    """The server refused the pipeline's connection or its SQL: the file or the database must
    change before a re-run can succeed."""

    def __init__(self, source: str, what: str, fix: str) -> None:
        self.source = source
        self.detail = what
        super().__init__(f"{source}: {what} Nothing was committed; {fix}")


class PostgresUnreachableError(TransientError):
    """The server could not be reached; the same pipeline may work on a later run."""

    def __init__(self, source: str, url: str, detail: str) -> None:
        self.detail = f"could not connect to PostgreSQL at `{url}`: {_sentence(detail)}"
        super().__init__(
            f"{source}: could not connect to PostgreSQL at `{url}`: {_sentence(detail)} "
            "Nothing was committed; the run can be retried."
        )


class PostgresReader(Connection):
    """One read-only connection; `source` (as "Pipeline `crm`") and `fix` (what to check in the
    file) are named by every error."""

    def __init__(self, conn: Any, source: str, fix: str) -> None:
        self._conn = conn
        self.source = source
        self.fix = fix

    @classmethod
    def connect(
        cls, url: str, password: str | None, *, source: str, fix: str, connect_timeout: int = 10
    ) -> PostgresReader:
        """Raises PostgresSourceError (refused: password, role, database, permission) or
        PostgresUnreachableError (no answer)."""
        shown = mask_url(url)
        try:
            conn = psycopg.connect(
                url,
                password=password or None,
                application_name="cdpflow-elt",
                connect_timeout=connect_timeout,
                options="-c TimeZone=UTC",
            )
        except psycopg.OperationalError as err:
            detail = _scrub(str(err), url)
            if password:
                detail = detail.replace(password, "***")
            if (err.sqlstate or "").startswith(_TERMINAL_SQLSTATE_PREFIXES) or _refused(detail):
                raise PostgresSourceError(
                    source, f"PostgreSQL at `{shown}` refused the connection: {detail}", fix
                ) from None
            raise PostgresUnreachableError(source, shown, detail) from None
        conn.read_only = True
        for name in _TEXT_AS_IS:
            conn.adapters.register_loader(name, TextLoader)
        return cls(conn, source, fix)

    def primary_key(self, schema: str, table: str) -> list[str]:
        """The table's primary-key columns in key order; [] when it has none.

        Raises PostgresSourceError when there is no such table."""
        with self._conn.transaction(), self._conn.cursor() as cur:
            found = cur.execute(
                "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s",
                (schema, table),
            ).fetchone()
            if found is None:
                raise PostgresSourceError(
                    self.source, f"there is no table `{schema}.{table}`.", self.fix
                )
            rows = cur.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = %s AND i.indisprimary "
                "ORDER BY array_position(i.indkey::int2[], a.attnum)",
                (found[0],),
            ).fetchall()
        return [r[0] for r in rows]

    def read(
        self,
        *,
        table: tuple[str, str] | None = None,
        query: str | None = None,
        cursor: str | None = None,
        since: str | None = None,
        order_by: Sequence[str] = (),
        batch_rows: int = 10_000,
        on_batch: Callable[[pa.Table], None] | None = None,
    ) -> pa.Table:
        """The rows of `table` (schema, name) or of `query`, those with `cursor` >= `since` when
        both are given, ordered by `order_by`. `since` is the cursor's value as text, which
        PostgreSQL casts to the column's type. With `on_batch`, each batch of `batch_rows` is
        handed to it as it is fetched and not kept: the result is then an empty table of the
        rows' schema."""
        source: sql.Composable = (
            sql.Identifier(*table)
            if table is not None
            else sql.SQL("({}) AS src").format(
                # the user's own SELECT; a literal % doubled, as parameters are bound below
                sql.SQL((query or "").replace("%", "%%"))  # type: ignore[arg-type]
            )
        )
        statement = sql.SQL("SELECT * FROM {}").format(source)
        params: tuple[Any, ...] = ()
        if cursor and since is not None:
            statement += sql.SQL(" WHERE {} >= %s").format(sql.Identifier(cursor))
            params = (since,)
        if order_by:
            statement += sql.SQL(" ORDER BY {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in order_by)
            )
        try:
            with self._conn.transaction(), self._conn.cursor(name="cdpflow_elt") as cur:
                cur.itersize = batch_rows
                cur.execute(statement, params)
                schema = _schema(cur.description)
                batches = []
                for batch in _batches(cur, schema, batch_rows):
                    if on_batch is None:
                        batches.append(batch)
                    else:
                        on_batch(pa.Table.from_batches([batch], schema))
        except psycopg.errors.DatabaseError as err:
            raise PostgresSourceError(
                self.source, f"PostgreSQL refused the read: {_sentence(_first_line(err))}", self.fix
            ) from None
        return pa.Table.from_batches(batches, schema)


def arrow_type(type_code: int, precision: int | None, scale: int | None) -> pa.DataType | None:
    """The Arrow type of a result column; None for one landed as text."""
    if type_code == _NUMERIC:
        if precision is not None and 0 < precision <= 38:
            return pa.decimal128(precision, scale or 0)
        return None
    if type_code in _BY_OID:
        return _BY_OID[type_code]
    if type_code in _ARRAY_OF:
        return pa.list_(_ARRAY_OF[type_code])
    return None


def _schema(description: Any) -> pa.Schema:
    fields = []
    for column in description or ():
        arrow = arrow_type(column.type_code, column.precision, column.scale)
        fields.append(pa.field(column.name, arrow or pa.string()))
    return pa.schema(fields)


def _batches(cur: Any, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    text_columns = [
        i for i, column in enumerate(cur.description or ()) if _is_text(column, schema.field(i))
    ]
    while rows := cur.fetchmany(batch_rows):
        columns = list(zip(*rows, strict=True))
        for i in text_columns:  # types landed as text: their Python value's str()
            columns[i] = tuple(None if v is None else str(v) for v in columns[i])
        yield pa.RecordBatch.from_arrays(
            [pa.array(values, f.type) for values, f in zip(columns, schema, strict=True)],
            schema=schema,
        )


def _is_text(column: Any, field: pa.Field) -> bool:
    return pa.types.is_string(field.type) and column.type_code not in _BY_OID


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
