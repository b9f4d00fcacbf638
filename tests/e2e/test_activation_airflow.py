"""Destinations in a real Airflow DagBag: each file is a DAG, a removed file removes it, and a
broken file is one import error naming the file and the key, breaking no other DAG."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow_support import parse_home_dags as parse
from airflow_support import run_airflow

pytestmark = pytest.mark.e2e

HOOK = "type: webhook\nsegment: {segment}\nurl: https://crm.example/hooks\nsecret: hook_key\n"


def test_destinations_appear_disappear_and_a_broken_one_is_one_import_error(tmp_path: Path):
    airflow_home = tmp_path / "airflow"
    cdp = tmp_path / "cdp"
    run_airflow(airflow_home, cdp, "db", "migrate")
    folder = cdp / "destinations"
    folder.mkdir(parents=True)
    (folder / "crm-hook.yml").write_text(HOOK.format(segment="lapsed"))
    (folder / "vip.yml").write_text(HOOK.format(segment="repeat_buyers"))

    bag = parse(airflow_home, cdp)
    assert bag["errors"] == {}
    assert {"activation_crm-hook", "activation_vip", "events_incremental"} <= set(bag["dags"])
    hook = bag["dags"]["activation_crm-hook"]
    assert hook["tasks"] == {"activation_crm-hook": ["activation_runs", "activation_log"]}
    assert "segment_members" in hook["assets"]

    (folder / "vip.yml").write_text(HOOK.format(segment="repeat_buyers") + "mode: sync\n")
    (folder / "crm-hook.yml").unlink()
    bag = parse(airflow_home, cdp)
    assert "activation_crm-hook" not in bag["dags"] and "activation_vip" not in bag["dags"]
    assert "events_incremental" in bag["dags"]
    [(file, error)] = bag["errors"].items()
    assert file.endswith("activation_vip.py")
    assert "`mode` in" in error and "vip.yml" in error
