"""Destinations in a real Airflow DagBag: each file is a DAG, a removed file removes it, and a
broken file is one import error naming the file and the key, breaking no other DAG; and one
destination synced end to end by `airflow dags test`."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.meta import meta_server
from support.activation import person, write_segment_members
from support.airflow_run import home_dags_folder, run_airflow
from support.airflow_run import parse_home_dags as parse
from support.lake import lake_query

from cdpflow.activation.destination import write_destination
from cdpflow.activation.meta_hashing import hashed
from cdpflow.secrets import open_secrets
from cdpflow.settings import load_settings

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


def test_a_meta_destination_syncs_end_to_end_through_airflow_dags_test(tmp_path: Path):
    """`airflow dags test activation_vip-meta`: the generated DAG reads the destination file and
    the secret from CDPFLOW_HOME, sends the segment to the local Graph server, and records the
    run in the lake."""
    airflow_home, cdp = tmp_path / "airflow", tmp_path / "cdp"
    settings = load_settings(env={}, home=cdp)
    open_secrets(settings).put("meta_token", "EAAe2e-token")
    write_segment_members(settings, [person(n, segment="repeat_buyers") for n in range(1, 6)])
    with meta_server("EAAe2e-token") as graph:
        write_destination(
            settings,
            "vip-meta",
            {"type": "meta_custom_audience", "segment": "repeat_buyers",
             "ad_account": "act_123", "token_secret": "meta_token", "api_base_url": graph.url},
        )  # fmt: skip
        folder = home_dags_folder(cdp)
        run_airflow(airflow_home, cdp, "db", "migrate", AIRFLOW__CORE__DAGS_FOLDER=folder)
        run_airflow(airflow_home, cdp, "dags", "reserialize", AIRFLOW__CORE__DAGS_FOLDER=folder)
        ran = run_airflow(
            airflow_home, cdp, "dags", "test", "activation_vip-meta",
            AIRFLOW__CORE__DAGS_FOLDER=folder,
        )  # fmt: skip
        assert "state=success" in ran.stdout + ran.stderr
        members = set(graph.audience_named("repeat_buyers").members)
    assert members == {hashed("EMAIL", f"Person{n}@Example.com") for n in range(1, 6)}
    [row] = lake_query(settings, "select status, added, removed from activation_runs")
    assert row == {"status": "succeeded", "added": 5, "removed": 0}
    assert "EAAe2e-token" not in ran.stdout + ran.stderr
