"""The lake as a user sees it: queries through the engine, the tests' reference time, the cases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdpflow.engine import open_engine
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings

CASES = Path(__file__).parent.parent / "cases"
# "now" for jobs in tests: long after any data the tests land
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def lake_query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` over the lake of `settings`, as a user's `cdpflow sql` sees them."""
    lake = Lake(settings.lake_url)
    engine = open_engine(settings, lake)
    try:
        return engine.query(sql, TableStore(lake)).to_pylist()
    finally:
        engine.close()
