"""Fitting dashboard bundles to the lake, without a Superset: identities, left-out charts,
what each import gets, checksums, and reading exports."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from cdpflow.lake.tables import Snapshot
from cdpflow.superset.bundles import (
    SHIPPED_DIR,
    BundleError,
    FittedBundle,
    fit_to_lake,
    read_bundle,
)
from cdpflow.superset.lake_datasets import database_uuid, dataset_uuid

OVERVIEW = SHIPPED_DIR / "cdp_overview"


def snapshot(table: str, version: int = 1) -> Snapshot:
    return Snapshot(table, version, "2026-11-20T00:00:00+00:00", "test", (), ())


def lake(*tables: str, version: int = 1) -> dict[str, Snapshot]:
    return {t: snapshot(t, version) for t in tables}


def current_sql(s: Snapshot) -> str:
    return f"SELECT * FROM read_parquet('{s.table}/v{s.version}.parquet')"


def unzip(data: bytes | None) -> dict[str, dict]:
    assert data is not None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {n.split("/", 1)[1]: yaml.safe_load(archive.read(n)) for n in archive.namelist()}


def chart_nodes(fitted: FittedBundle) -> dict[str, dict]:
    (layout,) = [c["position"] for c in fitted.of_kind("dashboards/").values()]
    return {k: v for k, v in layout.items() if isinstance(v, dict) and v.get("type") == "CHART"}


def test_charts_on_missing_tables_are_left_out_with_their_place_on_the_dashboard() -> None:
    fitted = fit_to_lake(
        read_bundle("shipped/cdp_overview", OVERVIEW), lake("sessions"), current_sql
    )

    assert fitted.charts == 3
    assert fitted.left_out["Purchase funnel"] == "funnel_steps"
    assert fitted.left_out["Campaigns"] == "campaign_performance"
    names = {node["meta"]["sliceName"] for node in chart_nodes(fitted).values()}
    assert names == {
        "Sessions by channel over time",
        "Revenue by channel over time",
        "Sessions and revenue by channel",
    }
    (layout,) = [c["position"] for c in fitted.of_kind("dashboards/").values()]
    for key, node in layout.items():  # no dangling children, no empty rows
        if isinstance(node, dict) and "children" in node:
            assert all(child in layout for child in node["children"]), key
            assert node["children"] or node["type"] not in ("ROW", "COLUMN"), key


def test_lake_datasets_take_cdpflows_identity_and_the_current_snapshot() -> None:
    fitted = fit_to_lake(
        read_bundle("shipped/cdp_overview", OVERVIEW), lake("sessions", version=7), current_sql
    )

    (dataset,) = fitted.of_kind("datasets/").values()
    assert dataset["uuid"] == dataset_uuid("sessions")
    assert dataset["database_uuid"] == database_uuid()
    assert dataset["sql"] == "SELECT * FROM read_parquet('sessions/v7.parquet')"
    assert fitted.zip_for("dataset") is None  # the lake's datasets are never overwritten
    charts = unzip(fitted.zip_for("chart"))
    assert {c["dataset_uuid"] for p, c in charts.items() if p.startswith("charts/")} == {
        dataset_uuid("sessions")
    }
    assert not any(p.startswith("dashboards/") for p in charts)
    assert unzip(fitted.zip_for("dashboard"))["metadata.yaml"]["type"] == "Dashboard"


def test_checksum_ignores_snapshot_files_but_not_a_table_appearing() -> None:
    bundle = read_bundle("shipped/cdp_overview", OVERVIEW)
    before = fit_to_lake(bundle, lake("sessions", "customer_360"), current_sql).checksum
    new_files = fit_to_lake(bundle, lake("sessions", "customer_360", version=9), current_sql)
    appeared = fit_to_lake(bundle, lake("sessions", "customer_360", "retention"), current_sql)

    assert new_files.checksum == before
    assert appeared.checksum != before


def export_of_users_dashboard(tmp_path: Path) -> Path:
    """A user's export zip (root folder, as Superset writes it): a chart on the lake's
    `sessions` dataset as exported from another Superset (another uuid), a native filter on it,
    and a chart on the user's own SQL dataset in the cdpflow database."""
    files = {
        "metadata.yaml": {"version": "1.0.0", "type": "Dashboard"},
        "databases/cdpflow.yaml": {
            "database_name": "cdpflow", "uuid": "11111111-0000-0000-0000-000000000001",
        },
        "datasets/cdpflow/sessions.yaml": {
            "table_name": "sessions", "uuid": "22222222-0000-0000-0000-000000000002",
            "database_uuid": "11111111-0000-0000-0000-000000000001", "sql": "SELECT 1",
        },
        "datasets/cdpflow/my_query.yaml": {
            "table_name": "my_query", "uuid": "33333333-0000-0000-0000-000000000003",
            "database_uuid": "11111111-0000-0000-0000-000000000001", "sql": "SELECT 42 AS x",
        },
        "charts/a.yaml": {"slice_name": "A", "uuid": "44444444-0000-0000-0000-000000000004",
                          "dataset_uuid": "22222222-0000-0000-0000-000000000002"},
        "charts/b.yaml": {"slice_name": "B", "uuid": "55555555-0000-0000-0000-000000000005",
                          "dataset_uuid": "33333333-0000-0000-0000-000000000003"},
        "dashboards/mine.yaml": {
            "dashboard_title": "Mine", "uuid": "66666666-0000-0000-0000-000000000006",
            "position": {}, "metadata": {"native_filter_configuration": [
                {"id": "f1", "targets": [{"datasetUuid": "22222222-0000-0000-0000-000000000002"}]}
            ]},
        },
    }  # fmt: skip
    path = tmp_path / "mine.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, config in files.items():
            archive.writestr(f"dashboard_export_20261120T000000/{name}", yaml.safe_dump(config))
    return path


def test_users_export_is_pointed_at_the_lake_datasets_and_its_own_datasets_are_imported(
    tmp_path: Path,
) -> None:
    bundle = read_bundle("user/mine.zip", export_of_users_dashboard(tmp_path))
    fitted = fit_to_lake(bundle, lake("sessions"), current_sql)

    charts = {c["slice_name"]: c for c in fitted.of_kind("charts/").values()}
    assert charts["A"]["dataset_uuid"] == dataset_uuid("sessions")
    assert charts["B"]["dataset_uuid"] == "33333333-0000-0000-0000-000000000003"
    (dashboard,) = fitted.of_kind("dashboards/").values()
    targets = dashboard["metadata"]["native_filter_configuration"][0]["targets"]
    assert targets == [{"datasetUuid": dataset_uuid("sessions")}]
    own = unzip(fitted.zip_for("dataset"))
    assert {c["table_name"] for p, c in own.items() if p.startswith("datasets/")} == {"my_query"}
    assert own["datasets/cdpflow/my_query.yaml"]["database_uuid"] == database_uuid()
    assert own["metadata.yaml"]["type"] == "SqlaTable"


def test_unreadable_bundles_name_their_file(tmp_path: Path) -> None:
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    with pytest.raises(BundleError, match=r"notes\.zip: is not a readable zip file"):
        read_bundle("user/notes.zip", not_zip)

    folder = tmp_path / "half"
    (folder / "charts").mkdir(parents=True)
    (folder / "charts" / "a.yaml").write_text("slice_name: A\n")
    with pytest.raises(BundleError, match=r"half: has no metadata\.yaml"):
        read_bundle("user/half", folder)

    (folder / "metadata.yaml").write_text("version: 1.0.0\n")
    with pytest.raises(BundleError, match=r"charts/a\.yaml is not a Superset export file"):
        fit_to_lake(read_bundle("user/half", folder), {}, current_sql)
    (folder / "charts" / "a.yaml").unlink()
    (folder / "dashboards").mkdir()
    (folder / "dashboards" / "d.yaml").write_text("uuid: [unclosed\n")
    with pytest.raises(BundleError, match=r"dashboards/d\.yaml is not valid YAML"):
        fit_to_lake(read_bundle("user/half", folder), {}, current_sql)
