"""Shared fixtures: a fresh CDPFLOW_HOME per test, landing helpers, and lake queries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from support.lake import lake_query

from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.settings import Settings, load_settings


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
