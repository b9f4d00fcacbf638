"""Shared fixtures: a fresh CDPFLOW_HOME per test, landing helpers, lake queries, Superset."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cdpflow.engine import open_engine
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import Settings, load_settings

if TYPE_CHECKING:
    from superset_server import SupersetServer

CASES = Path(__file__).parent / "cases"
# "now" for jobs in tests: long after any data the tests land
LATER = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={}, home=tmp_path / "home")


@pytest.fixture
def lake(settings: Settings) -> Lake:
    return Lake(settings.lake_url)


@pytest.fixture
def land(lake: Lake) -> Callable[[Iterable[Received]], None]:
    def land_(items: Iterable[Received]) -> None:
        with RawWriter(lake) as writer:
            for item in items:
                writer.write(item)

    return land_


def lake_query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` over the lake of `settings`, as a user's `cdpflow sql` sees them."""
    lake = Lake(settings.lake_url)
    engine = open_engine(settings, lake)
    try:
        return engine.query(sql, TableStore(lake)).to_pylist()
    finally:
        engine.close()


@pytest.fixture
def query(settings: Settings) -> Callable[[str], list[dict[str, Any]]]:
    return lambda sql: lake_query(settings, sql)


@pytest.fixture(scope="session")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupersetServer]:
    """One Superset for the Superset DAGs' tests (a start takes minutes on a busy machine),
    started by `cdpflow superset` as the README says, with SUPERSET_PASSWORD unset. Each test
    works on a lake of its own, which every sync brings Superset in line with. (The report
    e-mail tests start their own, with ALERT_REPORTS on.)"""
    from superset_server import start_superset_command, stop_superset, venv_missing

    missing = venv_missing()
    if missing:
        pytest.skip(missing)
    server = start_superset_command(tmp_path_factory.mktemp("superset-home"))
    print(f"\nSuperset started in {server.started_seconds:.1f} s at {server.url}")
    try:
        yield server
    finally:
        stop_superset(server)
