"""The environment `cdpflow airflow` runs Airflow with."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdpflow.airflow.runtime import airflow_environment
from cdpflow.settings import load_settings


def test_cdpflows_own_airflow_starts_its_dags_unpaused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", raising=False)
    settings = load_settings(env={}, home=tmp_path)
    assert airflow_environment(settings)["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")  # asked for
    assert airflow_environment(settings)["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
