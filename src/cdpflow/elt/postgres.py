"""Type `postgres`: tables or a query from PostgreSQL, incremental by a cursor column.

A resource with a cursor reads, after its first sync, the rows whose cursor is >= the greatest
value the last run saw (its state), so rows updated at that very value are read again and the
primary-key merge keeps one of each; without a cursor every run reads the whole table or query.
The password is never in the file: `url` must not hold one (refused at load), and
`password_secret` names the secret that does. The connection and the Arrow types are
cdpflow.postgres.reader's (psycopg, server-side cursor batches).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc

from cdpflow.elt.config import Check, Pipeline, Resource, Source
from cdpflow.errors import TerminalError
from cdpflow.secrets import SecretsStore
from cdpflow.settings import mask_url

if TYPE_CHECKING:
    from cdpflow.postgres.reader import PostgresReader

PIPELINE_KEYS = frozenset({"url", "password_secret"})
RESOURCE_KEYS = frozenset({"table", "query"})
SCHEMES = ("postgresql", "postgres")
BATCH_ROWS = 10_000  # rows per fetch of the server-side cursor


def check_pipeline(data: Mapping[str, Any], check: Check) -> dict[str, Any]:
    url = data.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in SCHEMES:
        shown = mask_url(url) if isinstance(url, str) else url
        raise check.fail(
            "url", f"must be a URL postgresql://user@host:port/database, got {shown!r}"
        )
    parts = urlsplit(url)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise check.fail(
            "url",
            f"must not hold a password (got `{_shown(parts)}`); store it with "
            "`cdpflow secrets set NAME` and name that secret in `password_secret`",
        )
    options: dict[str, Any] = {"url": url}
    if data.get("password_secret") is not None:
        options["password_secret"] = check.secret_name("password_secret", data["password_secret"])
    return options


def check_resource(item: Mapping[str, Any], key: str, check: Check) -> dict[str, Any]:
    table, query = item.get("table"), item.get("query")
    if (table is None) == (query is None):
        raise check.fail(
            key, "a postgres resource needs either `table: schema.name` or `query: SELECT ...`"
        )
    if table is not None:
        if not isinstance(table, str) or not all(split_table(table)):
            raise check.fail(f"{key}.table", f"must be `schema.name` or `name`, got {table!r}")
        return {"table": ".".join(split_table(table))}
    if not isinstance(query, str) or not query.strip():
        raise check.fail(f"{key}.query", f"must be a SELECT statement, got {query!r}")
    return {"query": query.strip().rstrip(";")}


def _shown(parts: Any) -> str:
    """The URL with its password masked, in the userinfo or the query string."""
    query = "password=***" if "password" in parse_qs(parts.query) else parts.query
    return mask_url(urlunsplit(parts._replace(query=query)))


def split_table(table: str) -> tuple[str, str]:
    """`schema.name` as (schema, name); a bare name is in schema public."""
    schema, _, name = table.rpartition(".")
    return (schema or "public", name)


def extract(
    pipeline: Pipeline,
    resource: Resource,
    state: Mapping[str, Any],
    source: Source,
    emit: Callable[[pa.Table], None],
) -> dict[str, Any]:
    """Emits the rows past the state's cursor value (all rows at first or without a cursor);
    returns the state after them."""
    since = (
        state.get("last") if resource.cursor and state.get("cursor") == resource.cursor else None
    )
    order = [resource.cursor, *resource.primary_key] if resource.cursor else resource.primary_key
    table = resource.options.get("table")
    fix = f"check `url` and `password_secret` in {pipeline.path} and the secret it names."
    reached: list[Any] = []

    def take(rows: pa.Table) -> None:
        if resource.cursor and resource.cursor in rows.column_names and rows.num_rows:
            newest = pc.max(rows[resource.cursor]).as_py()
            if newest is not None:
                reached[:] = [max([*reached, newest])]
        emit(rows)

    with connect(pipeline.name, pipeline.options, source.secrets, fix, resource.name) as reader:
        schema = reader.read(
            table=split_table(table) if table else None,
            query=resource.options.get("query"),
            cursor=resource.cursor,
            since=since,
            order_by=list(dict.fromkeys(order)),
            batch_rows=BATCH_ROWS,
            on_batch=take,
        ).schema
    if resource.cursor and resource.cursor not in schema.names:
        raise TerminalError(
            f"Pipeline `{pipeline.name}` resource `{resource.name}`: the cursor column "
            f"`{resource.cursor}` is not among the columns read ({', '.join(schema.names)}); "
            f"nothing was committed. Fix `cursor` in {pipeline.path}."
        )
    if not resource.cursor:
        return {}
    if not reached:
        return dict(state)
    return {"cursor": resource.cursor, "last": cursor_text(reached[0])}


def cursor_text(value: Any) -> str:
    """A cursor value as PostgreSQL reads it back (timestamps in ISO 8601 with their offset)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def connect(
    pipeline: str,
    options: Mapping[str, Any],
    secrets: SecretsStore,
    fix: str,
    resource: str = "",
) -> PostgresReader:
    """A reader connected as a pipeline's `url` and `password_secret` say; errors name the
    pipeline (and resource) and what to fix, never the password."""
    from cdpflow.postgres.reader import PostgresReader

    secret = options.get("password_secret")
    password = None
    where = f"Pipeline `{pipeline}`" + (f" resource `{resource}`" if resource else "")
    if secret:
        password = secrets.get(secret)
        if password is None:
            raise TerminalError(
                f"{where}: `password_secret` names secret `{secret}`, which the secrets store "
                f"does not have; store it with `cdpflow secrets set {secret}`."
            )
    return PostgresReader.connect(options["url"], password, source=where, fix=fix)


def catalog_primary_key(
    pipeline: str, options: Mapping[str, Any], secrets: SecretsStore, table: str
) -> list[str]:
    """The primary key PostgreSQL's catalog declares for `table` ([] when it has none), for a
    `cdpflow pipeline add` that was not given one."""
    fix = "check --url and --password-secret, or pass --primary-key."
    with connect(pipeline, options, secrets, fix) as reader:
        return reader.primary_key(*split_table(table))
