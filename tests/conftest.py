"""Shared fixtures: a fresh CDPFLOW_HOME per test, landing helpers, lake queries, Superset."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support.lake import lake_query

from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.settings import Settings, load_settings

if TYPE_CHECKING:
    from support.superset import SupersetServer


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


@pytest.fixture
def query(settings: Settings) -> Callable[[str], list[dict[str, Any]]]:
    return lambda sql: lake_query(settings, sql)


@pytest.fixture(scope="session")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupersetServer]:
    """One Superset for the Superset DAGs' tests (a start takes minutes on a busy machine),
    started by `cdpflow superset` as the README says, with SUPERSET_PASSWORD unset. Each test
    works on a lake of its own, which every sync brings Superset in line with. (The report
    e-mail tests start their own, with ALERT_REPORTS on.)"""
    from support.superset import start_superset_command, stop_superset, venv_missing

    missing = venv_missing()
    if missing:
        pytest.skip(missing)
    server = start_superset_command(tmp_path_factory.mktemp("superset-home"))
    print(f"\nSuperset started in {server.started_seconds:.1f} s at {server.url}")
    try:
        yield server
    finally:
        stop_superset(server)
