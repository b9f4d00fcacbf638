"""Destinations in a real Airflow DagBag: each file is a DAG, a removed file removes it, and a
broken file is one import error naming the file and the key, breaking no other DAG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_support import airflow_env, home_dags_folder, run_airflow

pytestmark = pytest.mark.e2e

DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
  "dags": {d.dag_id: {"tasks": {t.task_id: [o.name for o in t.outlets] for t in d.tasks},
    "assets": str(getattr(d.timetable, "asset_condition", None))} for d in bag.dags.values()}}))
"""
HOOK = "type: webhook\nsegment: {segment}\nurl: https://crm.example/hooks\nsecret: hook_key\n"


def parse(airflow_home: Path, cdp: Path) -> dict:
    folder = home_dags_folder(cdp)
    env = airflow_env(airflow_home, cdp, AIRFLOW__CORE__DAGS_FOLDER=folder)
    proc = subprocess.run(
        [sys.executable, "-c", DAGBAG, folder],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


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
