"""The lake's tables as Superset datasets.

Superset 6.1 ships DuckDB 1.x while cdpflow writes with DuckDB 2.0, so they share no DuckDB
database file: the cdpflow database in Superset is an in-memory DuckDB, and each dataset is
virtual SQL naming its table's *current* snapshot files (the same scan every cdpflow reader
uses), rewritten by each sync. Parquet is the only format both read.

What cdpflow made is recognised by its UUID, derived from the name it was made for, so a
dataset or database a user made (any other UUID) is never changed or removed.
"""

from __future__ import annotations

import uuid

from cdpflow.engine.duckdb_scan import scan_sql
from cdpflow.lake.tables import Snapshot, TableStore

DATABASE_NAME = "cdpflow"
DATABASE_URI = "duckdb:///:memory:"
_NAMESPACE = uuid.UUID("5d1f0e6c-3b7a-4c55-9a1e-6b2d3f4c8a90")


def database_uuid() -> str:
    return str(uuid.uuid5(_NAMESPACE, "database"))


def dataset_uuid(table: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"dataset:{table}"))


def dataset_sql(store: TableStore, snapshot: Snapshot) -> str:
    """The dataset's SQL: the snapshot's files, typed as the snapshot records them."""
    return scan_sql(store, snapshot, snapshot.columns or None)


def published_tables(store: TableStore) -> dict[str, Snapshot]:
    """Lake tables a user may chart (temporary `tmp_` tables are not)."""
    return {name: store.get(name) for name in sorted(store.names()) if not name.startswith("tmp_")}
