"""The tables cdpflow writes declare their columns in the lake's own type names: what a writer
hands the commit is already what the snapshot records (no DuckDB spelling normalized on the
way), and each recorded type gives the writer's Arrow type back to readers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from cdpflow.activation.records import SCHEMAS as ACTIVATION_SCHEMAS
from cdpflow.activation.records import ActivationTables
from cdpflow.elt.land import REJECTS, Lander
from cdpflow.engine.duckdb_analytics import SOURCE_TABLES
from cdpflow.entities.tables import SCHEMAS as ENTITY_SCHEMAS
from cdpflow.entities.tables import EntityTables
from cdpflow.events.schema import CORE_EVENTS_COLUMNS, QUARANTINE_COLUMNS
from cdpflow.identity.store import SCHEMAS as IDENTITY_SCHEMAS
from cdpflow.identity.store import IdentityStore
from cdpflow.jobs.activation_stats import STATS
from cdpflow.jobs.billing import REPORT_COLUMNS
from cdpflow.jobs.sync_superset_dashboard import IMPORTS
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.lake.types import arrow_schema, neutral, schema_columns
from cdpflow.report.runs import SCHEMA as REPORT_RUNS
from cdpflow.report.runs import ReportRuns

Columns = Sequence[tuple[str, str]]


@pytest.fixture
def committed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Columns]]:
    """table -> the columns its writer handed TableStore.commit, exactly as handed."""
    seen: dict[str, Columns] = {}
    real = TableStore.commit

    def commit(self, table, base, **kwargs):  # type: ignore[no-untyped-def]
        seen[table] = tuple(kwargs["columns"])
        return real(self, table, base, **kwargs)

    monkeypatch.setattr(TableStore, "commit", commit)
    yield seen


def _in_lake_names(columns: Columns) -> bool:
    return all(isinstance(kind, str) and neutral(kind) == kind for _, kind in columns)


def test_the_writers_hand_the_commit_lake_type_names(
    committed: dict[str, Columns], tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    staging = tmp_path / "staging"
    tables = TableStore(lake)
    for table, schema in IDENTITY_SCHEMAS.items():
        IdentityStore(lake, tables).append(table, schema.empty_table(), "test")
    for table in ACTIVATION_SCHEMAS:
        ActivationTables(lake, "d").commit(table, [], "test")
    for table in ENTITY_SCHEMAS:
        EntityTables(lake).commit(table, "test")
    Lander(lake, tables, staging, "shop").commit_rejects("orders", {}, [])
    now = datetime(2026, 12, 7, 6, tzinfo=UTC)
    assert ReportRuns(lake).claim("overview", now, "a@example.com", now)

    expected = {*IDENTITY_SCHEMAS, *ACTIVATION_SCHEMAS, *ENTITY_SCHEMAS, "elt_rejects"}
    assert expected | {"report_runs"} <= set(committed)
    for table, columns in committed.items():
        assert _in_lake_names(columns), (table, columns)
        assert tables.get(table).columns == columns  # recorded exactly as handed
    # the timestamps all of them declare are UTC instants, recorded as such
    kinds = {kind for columns in committed.values() for _, kind in columns}
    assert "timestamp" in kinds and "timestamp_ntz" not in kinds


@pytest.mark.parametrize(
    "columns",
    [CORE_EVENTS_COLUMNS, QUARANTINE_COLUMNS, REPORT_COLUMNS, *SOURCE_TABLES.values()],
    ids=["core_events", "quarantine_events", "billing_reports", *SOURCE_TABLES],
)
def test_a_column_list_written_out_is_in_lake_type_names(columns: Columns) -> None:
    assert _in_lake_names(columns)


@pytest.mark.parametrize(
    "schema",
    [
        *IDENTITY_SCHEMAS.values(),
        *ACTIVATION_SCHEMAS.values(),
        *ENTITY_SCHEMAS.values(),
        REJECTS,
        REPORT_RUNS,
        STATS,
        IMPORTS,
    ],
)
def test_an_arrow_declared_table_records_types_that_read_back_as_its_schema(
    schema: pa.Schema,
) -> None:
    assert arrow_schema(schema_columns(schema)) == schema
