"""sync_superset_dashboard against a real Superset (one server for this module): the shipped
CDP overview imports and shows `cdpflow sql`'s numbers, unchanged bundles are left alone (and
users' edits with them), changed ones re-import, a broken one fails alone."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from support.airflow_run import parse_home_dags
from support.lake import lake_query
from support.superset import (
    ADMIN_PASSWORD,
    SupersetServer,
    start_superset,
    stop_superset,
    venv_missing,
)

from cdpflow.errors import TerminalError
from cdpflow.jobs import sync_superset_dashboard
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.settings import Settings, load_settings
from cdpflow.superset.bundles import SHIPPED_DIR, user_bundle_dir
from cdpflow.superset.client import SupersetClient
from cdpflow.superset.runtime import Credentials

OVERVIEW = SHIPPED_DIR / "cdp_overview"


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupersetServer]:
    missing = venv_missing()
    if missing:
        pytest.skip(missing)
    server = start_superset(tmp_path_factory.mktemp("superset-dashboard-home"))
    try:
        yield server
    finally:
        stop_superset(server)


@pytest.fixture
def home(superset: SupersetServer, tmp_path: Path) -> Settings:
    """A lake with sessions and customer_360 (the other overview tables do not exist yet)."""
    settings = load_settings(env=superset.env(), home=tmp_path / "home")
    write_table(settings, "sessions", SESSIONS)
    write_table(settings, "customer_360", CUSTOMERS)
    return settings


def admin(superset: SupersetServer) -> SupersetClient:
    return SupersetClient(superset.url, Credentials("admin", "", ADMIN_PASSWORD))


SESSIONS = pa.table(
    {
        "session_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
        "global_user_id": ["u1", "u1", "u2", "u3", "u4", "u4"],
        "started_at": [datetime(2026, 11, d, 10) for d in (1, 2, 2, 3, 3, 3)],
        "session_date": [date(2026, 11, d) for d in (1, 2, 2, 3, 3, 3)],
        "channel": ["Paid Search", "Direct", "Email", "Paid Search", "Direct", "Direct"],
        "is_engaged": [True, False, True, True, True, False],
        "conversions": [1, 0, 1, 0, 2, 0],
        "revenue": [40.5, 0.0, 19.25, 0.0, 120.0, 0.0],
    }
)
CUSTOMERS = pa.table(
    {
        "global_user_id": ["u1", "u2", "u3", "u4"],
        "sessions": [2, 1, 1, 2],
        "orders": [1, 1, 0, 2],
        "revenue": [40.5, 19.25, 0.0, 120.0],
    }
)
SEGMENT_SIZES = pa.table(
    {"segment": ["vip", "vip"], "day": [date(2026, 11, 2), date(2026, 11, 3)], "size": [3, 4]}
)


def write_table(settings: Settings, name: str, table: pa.Table) -> None:
    """Publish `table` as lake table `name`, as a job commits one."""
    lake = Lake(settings.lake_url)
    store = TableStore(lake)
    part = f"part-{uuid.uuid4().hex}.parquet"
    lake.makedirs(name)
    pq.write_table(table, lake.full(f"{name}/{part}"))
    kinds = {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.float64(): "DOUBLE"}
    kinds.update({pa.date32(): "DATE", pa.bool_(): "BOOLEAN", pa.timestamp("us"): "TIMESTAMP"})
    store.commit(
        name,
        store.current(name),
        operation="overwrite",
        add=[DataFile(part, table.num_rows, lake.size(f"{name}/{part}"))],
        remove=lambda f: True,
        columns=[(f.name, kinds[f.type]) for f in table.schema],
    )


def dashboard(client: SupersetClient, title: str) -> dict[str, Any]:
    found = [d for d in client.rows("dashboard") if d["dashboard_title"] == title]
    assert len(found) == 1, [d["dashboard_title"] for d in client.rows("dashboard")]
    return dict(found[0])


def charts_of(client: SupersetClient, dashboard_id: int) -> dict[str, int]:
    answer = client.request("GET", f"/api/v1/dashboard/{dashboard_id}/charts")
    return {c["slice_name"]: int(c["id"]) for c in answer["result"]}


def user_copy_of_overview(settings: Settings, title: str) -> Path:
    """The shipped bundle copied into the user's bundle folder as a dashboard of its own: its
    title, slug, and dashboard and chart uuids (the datasets stay the lake's)."""
    target = user_bundle_dir(settings) / title.lower().replace(" ", "_")
    shutil.copytree(OVERVIEW, target)
    own = [
        yaml.safe_load(path.read_text())["uuid"]
        for path in [*target.glob("charts/*.yaml"), *target.glob("dashboards/*.yaml")]
    ]
    for path in target.rglob("*.yaml"):
        text = path.read_text()
        for old in own:
            text = text.replace(old, str(uuid.uuid5(uuid.NAMESPACE_URL, title + old)))
        text = text.replace("dashboard_title: CDP overview", f"dashboard_title: {title}")
        path.write_text(text.replace("slug: cdp-overview", f"slug: {target.name}"))
    return target


def test_overview_imports_its_charts_show_cdpflow_sql_numbers_and_a_second_run_imports_nothing(
    home: Settings, superset: SupersetServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = sync_superset_dashboard.run(home)

    assert first.imported == ["shipped/cdp_overview (CDP overview)"], first.summary()
    assert "Purchase funnel (funnel_steps)" in first.summary()  # left out: no table yet
    client = admin(superset)
    charts = charts_of(client, int(dashboard(client, "CDP overview")["id"]))
    assert set(charts) == {
        "People",
        "Customers (with an order)",
        "Revenue",
        "Sessions by channel over time",
        "Revenue by channel over time",
        "Sessions and revenue by channel",
    }
    shown = client.chart_data(charts["Sessions and revenue by channel"])[0]["data"]
    expected = lake_query(
        home,
        "SELECT channel, count(*) AS sessions, count(DISTINCT global_user_id) AS people, "
        "sum(conversions) AS orders, sum(revenue) AS revenue FROM sessions GROUP BY channel",
    )
    assert {
        r["channel"]: (r["sessions"], r["people"], r["orders"], r["revenue"]) for r in shown
    } == {r["channel"]: (r["sessions"], r["people"], r["orders"], r["revenue"]) for r in expected}
    customers = client.chart_data(charts["Customers (with an order)"])[0]["data"]
    assert customers == [{"customers": 3}]

    second = sync_superset_dashboard.run(home)
    assert second.imported == [] and second.unchanged == ["shipped/cdp_overview (CDP overview)"]
    assert ADMIN_PASSWORD not in caplog.text
    imports = lake_query(home, "SELECT bundle, charts FROM superset_dashboard_imports")
    assert imports == [{"bundle": "shipped/cdp_overview", "charts": 6}]


def test_users_edit_survives_an_unchanged_bundle_and_a_changed_bundle_reimports(
    home: Settings, superset: SupersetServer
) -> None:
    bundle = user_copy_of_overview(home, "My overview")
    sync_superset_dashboard.run(home)
    client = admin(superset)
    mine = dashboard(client, "My overview")
    chart_id = charts_of(client, int(mine["id"]))["Revenue"]
    client.request("PUT", f"/api/v1/chart/{chart_id}", json={"slice_name": "Revenue (edited)"})
    client.request("PUT", f"/api/v1/dashboard/{mine['id']}", json={"css": ".edited {}"})

    unchanged = sync_superset_dashboard.run(home)
    assert "user/my_overview (My overview)" in unchanged.unchanged, unchanged.summary()
    assert client.request("GET", f"/api/v1/chart/{chart_id}")["result"]["slice_name"] == (
        "Revenue (edited)"
    )
    assert client.request("GET", f"/api/v1/dashboard/{mine['id']}")["result"]["css"] == ".edited {}"

    chart_file = bundle / "charts" / "customer_revenue.yaml"
    chart_file.write_text(
        chart_file.read_text().replace("slice_name: Revenue", "slice_name: Sales")
    )
    changed = sync_superset_dashboard.run(home)
    assert changed.imported == ["user/my_overview (My overview)"], changed.summary()
    assert client.request("GET", f"/api/v1/chart/{chart_id}")["result"]["slice_name"] == "Sales"
    assert client.request("GET", f"/api/v1/dashboard/{mine['id']}")["result"]["css"] in (None, "")


def test_a_table_appearing_brings_its_chart_in(home: Settings, superset: SupersetServer) -> None:
    sync_superset_dashboard.run(home)
    write_table(home, "segment_sizes", SEGMENT_SIZES)

    result = sync_superset_dashboard.run(home)

    assert result.imported == ["shipped/cdp_overview (CDP overview)"], result.summary()
    client = admin(superset)
    charts = charts_of(client, int(dashboard(client, "CDP overview")["id"]))
    sizes = client.chart_data(charts["Segment sizes"])[0]["data"]
    assert sorted(r["size"] for r in sizes) == [3, 4]


def test_broken_bundles_name_their_file_and_reason_and_the_others_still_import(
    home: Settings, superset: SupersetServer
) -> None:
    folder = user_bundle_dir(home)
    folder.mkdir(parents=True)
    (folder / "not_a_zip.zip").write_text("hello")
    refused = user_copy_of_overview(home, "Refused overview")
    layout = refused / "dashboards" / "cdp_overview.yaml"
    layout.write_text(layout.read_text().replace("published: true", "published: maybe"))

    with pytest.raises(TerminalError) as failed:
        sync_superset_dashboard.run(home)

    message = str(failed.value)
    assert f"{folder / 'not_a_zip.zip'}: is not a readable zip file" in message
    assert f"{refused}: " in message and "published" in message and "Not a valid boolean" in message
    assert "imported shipped/cdp_overview (CDP overview)" in message
    client = admin(superset)
    assert "Refused overview" not in {d["dashboard_title"] for d in client.rows("dashboard")}
    dashboard(client, "CDP overview")
    imports = lake_query(home, "SELECT bundle FROM superset_dashboard_imports")
    assert imports == [{"bundle": "shipped/cdp_overview"}]  # the failed ones are retried


def test_dag_runs_after_the_datasets_sync_and_on_the_reporting_interval(tmp_path: Path) -> None:
    parsed = parse_home_dags(tmp_path / "airflow", tmp_path / "cdp")
    assert parsed["errors"] == {}
    dags = parsed["dags"]
    assert dags["sync_superset_tables"]["tasks"]["sync_superset_tables"] == ["superset_datasets"]
    dashboard_dag = dags["sync_superset_dashboard"]
    assert "superset_datasets" in dashboard_dag["assets"]
    assert "*/30 * * * *" in dashboard_dag["schedule"]
