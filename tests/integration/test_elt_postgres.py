"""The `postgres` ELT type against a real PostgreSQL: sync, incremental merge, queries, faults."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from support.postgres import PostgresServer, running_server

from cdpflow.declared import DeclarationError
from cdpflow.elt.config import load_pipeline
from cdpflow.elt.job import run
from cdpflow.elt.land import SchemaChangeError
from cdpflow.errors import TerminalError
from cdpflow.jobs import Interval
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings

PASSWORD = "crm-s3cret-pw"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """The server, with role `crm` that must log in with its password (scram-sha-256)."""
    with running_server() as server:
        hba = server.data / "pg_hba.conf"
        hba.write_text("host all crm 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute(f"CREATE ROLE crm LOGIN PASSWORD '{PASSWORD}'")
            admin.execute("SELECT pg_reload_conf()")
        yield server


@pytest.fixture
def db(pg: PostgresServer) -> Iterator[psycopg.Connection]:
    """A fresh schema `crm` of tables the role `crm` may read."""
    with psycopg.connect(pg.url(), autocommit=True) as admin:
        admin.execute("DROP SCHEMA IF EXISTS crm CASCADE")
        admin.execute("CREATE SCHEMA crm AUTHORIZATION crm")
        admin.execute("SET search_path TO crm")
        admin.execute(
            "CREATE TABLE contacts (id integer PRIMARY KEY, email text, score numeric(10, 2), "
            "updated_at timestamptz NOT NULL)"
        )
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA crm TO crm")
        admin.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT SELECT ON TABLES TO crm")
        yield admin


def _pipeline(settings: Settings, pg: PostgresServer, resources: str, name: str = "crm") -> None:
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(
        f"type: postgres\nurl: {pg.url('crm')}\npassword_secret: crm_password\n"
        f"resources:\n{resources}"
    )
    open_secrets(settings).put("crm_password", PASSWORD)


CONTACTS = "  contacts:\n    table: crm.contacts\n    primary_key: id\n    cursor: updated_at\n"


def _contacts(query) -> list[tuple]:
    rows = query("SELECT id, email, score FROM crm__contacts ORDER BY id")
    return [(r["id"], r["email"], r["score"]) for r in rows]


def test_first_sync_then_updates_and_inserts_merge_by_primary_key(settings, pg, db, query):
    db.execute(
        "INSERT INTO contacts VALUES (1, 'ann@x.io', 10.5, '2026-01-01 10:00+00'), "
        "(2, 'bob@x.io', 3, '2026-01-02 10:00+00'), (3, 'cy@x.io', NULL, '2026-01-03 10:00+00')"
    )
    _pipeline(settings, pg, CONTACTS)
    first = run(settings, Interval(), name="crm")
    assert first.loaded == {"crm__contacts": 3}
    assert _contacts(query) == [
        (1, "ann@x.io", Decimal("10.50")),
        (2, "bob@x.io", Decimal("3.00")),
        (3, "cy@x.io", None),
    ]
    snapshot = TableStore(Lake(settings.lake_url)).get("crm__contacts")
    assert snapshot.properties["elt_state"] == {
        "cursor": "updated_at",
        "last": "2026-01-03T10:00:00+00:00",
    }
    # two updates (one to a row at the boundary) and an insert
    db.execute(
        "UPDATE contacts SET email = 'ann@new.io', updated_at = '2026-01-04 09:00+00' WHERE id = 1"
    )
    db.execute("UPDATE contacts SET score = 7.25 WHERE id = 3")  # same cursor value as before
    db.execute("INSERT INTO contacts VALUES (4, 'dee@x.io', 1, '2026-01-05 08:30+00')")
    second = run(settings, Interval(), name="crm")
    # rows with updated_at >= the last value: 3 (the boundary, re-read), 1 and 4; not 2
    assert second.loaded == {"crm__contacts": 3}
    assert second.rows == {"crm__contacts": 4}
    assert _contacts(query) == [
        (1, "ann@new.io", Decimal("10.50")),
        (2, "bob@x.io", Decimal("3.00")),
        (3, "cy@x.io", Decimal("7.25")),
        (4, "dee@x.io", Decimal("1.00")),
    ]
    again = run(settings, Interval(), name="crm")
    assert again.loaded == {"crm__contacts": 1}  # only the boundary row
    assert again.rows == {"crm__contacts": 4}


def test_a_query_resource_with_a_composite_key_and_a_literal_percent(settings, pg, db, query):
    db.execute(
        "CREATE TABLE order_lines (order_id bigint, line smallint, sku text, status text, "
        "changed bigint, PRIMARY KEY (order_id, line))"
    )
    db.execute(
        "INSERT INTO order_lines VALUES (1, 1, 'tee', 'paid', 1), (1, 2, 'cap', 'pending', 2), "
        "(2, 1, 'tee', 'refunded', 3)"
    )
    _pipeline(
        settings,
        pg,
        "  lines:\n    query: SELECT order_id, line, sku, changed FROM crm.order_lines "
        "WHERE status LIKE 'p%'\n    primary_key: [order_id, line]\n    cursor: changed\n",
    )
    run(settings, Interval(), name="crm")
    rows = query("SELECT order_id, line, sku FROM crm__lines ORDER BY 1, 2")
    assert [(r["order_id"], r["line"], r["sku"]) for r in rows] == [(1, 1, "tee"), (1, 2, "cap")]
    db.execute("UPDATE order_lines SET sku = 'hat', changed = 4 WHERE order_id = 1 AND line = 1")
    db.execute("INSERT INTO order_lines VALUES (3, 1, 'mug', 'paid', 5)")
    assert run(settings, Interval(), name="crm").loaded == {"crm__lines": 3}  # 2 (boundary), 4, 5
    rows = query("SELECT order_id, line, sku FROM crm__lines ORDER BY 1, 2")
    assert [(r["order_id"], r["line"], r["sku"]) for r in rows] == [
        (1, 1, "hat"),
        (1, 2, "cap"),
        (3, 1, "mug"),
    ]


def test_postgres_types_land_as_the_documented_arrow_types(settings, pg, db):
    db.execute(
        "CREATE TABLE typed (id bigint PRIMARY KEY, flag boolean, small smallint, n integer, "
        "ratio real, x double precision, amount numeric(12, 3), free numeric, name varchar(20), "
        "code char(2), uid uuid, doc jsonb, day date, at_local timestamp, at timestamptz, "
        "span interval, raw bytea, tags text[], ip inet)"
    )
    db.execute(
        "INSERT INTO typed VALUES (1, true, 2, 3, 1.5, 2.5, 12.345, 1.00000000001, 'n', 'de', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '2026-01-02', "
        "'2026-01-02 03:04:05', '2026-01-02 03:04:05+02', '1 day 2 hours', '\\x0102', "
        "ARRAY['vip', 'b2b'], '10.1.2.3')"
    )
    _pipeline(settings, pg, "  typed:\n    table: crm.typed\n    primary_key: id\n")
    run(settings, Interval(), name="crm")
    snapshot = TableStore(Lake(settings.lake_url)).get("crm__typed")
    schema = snapshot.properties["elt_schema"]
    assert {k: v for k, v in schema.items() if k != "_loaded_at"} == {
        "id": "int64",
        "flag": "bool",
        "small": "int16",
        "n": "int32",
        "ratio": "float",
        "x": "double",
        "amount": "decimal128(12, 3)",
        "free": "string",
        "name": "string",
        "code": "string",
        "uid": "string",
        "doc": "string",
        "day": "date32[day]",
        "at_local": "timestamp[us]",
        "at": "timestamp[us, tz=UTC]",
        "span": "string",
        "raw": "binary",
        "tags": "list<item: string>",
        "ip": "string",
    }
    lake = Lake(settings.lake_url)
    table = pa.concat_tables([lake.read_parquet(f"crm__typed/{f.path}") for f in snapshot.files])
    row = table.to_pylist()[0]
    assert row["doc"] == '{"a": [1, 2]}'
    assert row["free"] == "1.00000000001"
    assert row["at"].isoformat() == "2026-01-02T01:04:05+00:00"
    assert row["tags"] == ["vip", "b2b"]
    assert row["ip"] == "10.1.2.3"
    assert row["span"] == "1 day 02:00:00"
    # a second run reads the same types again: the stored schema still fits (lists too)
    assert run(settings, Interval(), name="crm").rows == {"crm__typed": 1}


def test_a_changed_column_type_fails_naming_both_types_and_commits_nothing(settings, pg, db):
    db.execute("INSERT INTO contacts VALUES (1, 'ann@x.io', 10.5, '2026-01-01 10:00+00')")
    _pipeline(settings, pg, CONTACTS)
    run(settings, Interval(), name="crm")
    store = TableStore(Lake(settings.lake_url))
    before = store.get("crm__contacts").version
    db.execute("ALTER TABLE contacts ALTER COLUMN score TYPE text")
    with pytest.raises(SchemaChangeError, match=r"`score` from decimal128\(10, 2\) to string"):
        run(settings, Interval(), name="crm")
    assert store.get("crm__contacts").version == before


def test_a_wrong_password_is_terminal_naming_the_pipeline_without_the_password(settings, pg, db):
    _pipeline(settings, pg, CONTACTS)
    open_secrets(settings).put("crm_password", "wrong-pw-123")
    with pytest.raises(TerminalError) as failed:
        run(settings, Interval(), name="crm")
    message = str(failed.value)
    assert "Pipeline `crm` resource `contacts`" in message
    assert "password authentication failed" in message
    assert "password_secret" in message and "Nothing was committed" in message
    assert "wrong-pw-123" not in message and PASSWORD not in message
    assert TableStore(Lake(settings.lake_url)).current("crm__contacts") is None


def test_a_missing_table_is_terminal_naming_it(settings, pg, db):
    _pipeline(settings, pg, "  gone:\n    table: crm.gone\n    primary_key: id\n")
    with pytest.raises(TerminalError, match=r"resource `gone`.*relation \"crm.gone\" does not"):
        run(settings, Interval(), name="crm")


@pytest.mark.parametrize(
    "url",
    ["postgresql://crm:hunter2@db/crm", "postgresql://crm@db/crm?password=hunter2"],
)
def test_a_password_inside_the_url_is_refused_at_load(settings: Settings, url: str) -> None:
    path: Path = settings.home / "pipelines" / "crm.yml"
    path.parent.mkdir(parents=True)
    path.write_text(f"type: postgres\nurl: '{url}'\nresources:\n{CONTACTS}")
    with pytest.raises(DeclarationError, match=r"`url` in .*must not hold a password") as failed:
        load_pipeline(settings, "crm")
    assert "hunter2" not in str(failed.value)


def test_pipeline_add_reads_the_primary_key_from_the_catalog(settings, pg, db, query) -> None:
    from click.testing import CliRunner

    from cdpflow.cli.main import cli

    db.execute("INSERT INTO contacts VALUES (1, 'ann@x.io', 1, '2026-01-01 10:00+00')")
    env = {"CDPFLOW_HOME": str(settings.home)}
    flags = ["pipeline", "add", "crm", "--type", "postgres", "--url", pg.url("crm"),
             "--table", "crm.contacts", "--cursor", "updated_at",
             "--password-secret", "crm_pw"]  # fmt: skip
    wrong = CliRunner().invoke(cli, flags, input="not-the-pw\n", env=env)
    assert wrong.exit_code == 1, wrong.output
    assert "password authentication failed" in wrong.output and "--primary-key" in wrong.output
    assert "not-the-pw" not in wrong.output and "`cdpflow secrets set crm_pw`" in wrong.output
    open_secrets(settings).put("crm_pw", PASSWORD)
    added = CliRunner().invoke(cli, flags, env=env)
    assert added.exit_code == 0, added.output
    assert "Primary key of crm.contacts (from PostgreSQL): id." in added.output
    assert load_pipeline(settings, "crm").resources[0].primary_key == ("id",)
    assert CliRunner().invoke(cli, ["run", "elt_crm"], env=env).exit_code == 0
    listed = CliRunner().invoke(cli, ["pipeline", "list"], env=env).output.splitlines()[1]
    assert listed.split()[:3] == ["crm", "postgres", "@daily"]
    assert listed.endswith("  1     updated_at >= 2026-01-01T10:00:00+00:00")
    db.execute("CREATE TABLE crm.notes (body text)")
    keyless = CliRunner().invoke(
        cli, [*flags[:2], "notes", *flags[3:7], "--table", "crm.notes", "--password-secret",
              "crm_pw"], env=env,
    )  # fmt: skip
    assert keyless.exit_code == 1 and "has no primary key in PostgreSQL" in keyless.output


def test_rows_read_in_many_server_side_batches_land_once_each(settings, pg, db, query, monkeypatch):
    import cdpflow.elt.postgres as postgres_type

    monkeypatch.setattr(postgres_type, "BATCH_ROWS", 7)  # 50 rows: seven full batches and one
    db.execute(
        "INSERT INTO contacts SELECT i, 'p' || i || '@x.io', i, "
        "timestamptz '2026-01-01 00:00+00' + i * interval '1 minute' "
        "FROM generate_series(1, 50) AS i"
    )
    _pipeline(settings, pg, CONTACTS)
    result = run(settings, Interval(), name="crm")
    assert result.loaded == {"crm__contacts": 50} and result.rows == {"crm__contacts": 50}
    assert _contacts(query) == [(i, f"p{i}@x.io", Decimal(f"{i}.00")) for i in range(1, 51)]
    state = TableStore(Lake(settings.lake_url)).get("crm__contacts").properties["elt_state"]
    assert state["last"] == "2026-01-01T00:50:00+00:00"  # the last batch's cursor was kept
