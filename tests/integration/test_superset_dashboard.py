"""sync_superset_dashboard against a real Superset (the session's, see conftest): the shipped
CDP overview imports and shows `cdpflow sql`'s numbers, unchanged bundles are left alone (and
users' edits with them), changed ones re-import, a broken one fails alone."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from support.airflow_run import parse_home_dags
from support.lake import lake_query
from support.superset import (
    SupersetServer,
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


@pytest.fixture
def home(superset: SupersetServer, tmp_path: Path) -> Settings:
    """A lake with sessions and customer_360 (the other overview tables do not exist yet)."""
    settings = load_settings(env=superset.env(), home=tmp_path / "home")
    write_table(settings, "sessions", SESSIONS)
    write_table(settings, "customer_360", CUSTOMERS)
    return settings


def admin(superset: SupersetServer) -> SupersetClient:
    return SupersetClient(superset.url, Credentials("admin", "", superset.password))


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


def ts(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour)


# The other overview tables, with the columns their jobs write (README: marts, entities,
# activation_stats); rows the charts' filters must leave out are included.
OTHER_OVERVIEW_TABLES = {
    "attribution": pa.table(
        {
            "order_id": ["o1", "o1", "o2", "o2", "o3"],
            "conversion_time": [ts(1), ts(1), ts(3), ts(3), ts(3)],
            "model": ["last_touch", "linear", "last_touch", "linear", "linear"],
            "session_id": ["s1", "s1", "s5", "s4", "s5"],
            "touch_time": [ts(1, 10), ts(1, 10), ts(3, 10), ts(3, 9), ts(3, 10)],
            "channel": ["Paid Search", "Paid Search", "Direct", "Paid Search", "Direct"],
            "credit": [1.0, 1.0, 1.0, 0.5, 0.5],
            "revenue_credit": [40.5, 40.5, 120.0, 60.0, 60.0],
        }
    ),
    "campaign_performance": pa.table(
        {
            "date": [date(2026, 11, d) for d in (1, 2, 3, 3)],
            "source": ["google", None, "google", "newsletter"],
            "medium": ["cpc", None, "cpc", "email"],
            "campaign": ["black_friday", None, "black_friday", "nov_digest"],
            "sessions": [1, 2, 1, 1],
            "users": [1, 2, 1, 1],
            "new_users": [1, 1, 0, 1],
            "engaged_sessions": [1, 1, 1, 1],
            "conversions": [1, 0, 0, 1],
            "revenue": [40.5, 0.0, 0.0, 19.25],
            "attributed_revenue_last_touch": [40.5, 0.0, 0.0, 19.25],
            "attributed_revenue_linear": [20.25, 10.0, 10.25, 19.25],
        }
    ),
    "retention": pa.table(
        {
            "retention_type": ["activity", "activity", "activity", "purchase", "activity"],
            "granularity": ["week", "week", "week", "week", "day"],
            "cohort_start": [
                date(2026, m, d) for m, d in ((10, 26), (10, 26), (11, 2), (10, 26), (11, 1))
            ],
            "period_number": [0, 1, 0, 0, 0],
            "cohort_size": [2, 2, 2, 1, 1],
            "retained_users": [2, 1, 2, 1, 1],
            "retention_rate": [1.0, 0.5, 1.0, 1.0, 1.0],
        }
    ),
    "funnel_steps": pa.table(
        {
            "funnel": ["purchase"] * 3 + ["signup"],
            "entry_day": [date(2026, 11, 1)] * 4,
            "step": [1, 2, 3, 1],
            "step_label": ["Viewed product", "Added to cart", "Purchased", "Signed up"],
            "users": [40, 12, 5, 9],
            "conversion_from_previous": [1.0, 0.3, 0.4167, 1.0],
        }
    ),
    "segment_sizes": SEGMENT_SIZES,
    "activation_stats": pa.table(
        {
            "day": [date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 3)],
            "destination": ["vip-klaviyo", "vip-klaviyo", "crm-hook"],
            "type": ["klaviyo", "klaviyo", "webhook"],
            "runs": [2, 1, 3],
            "succeeded_runs": [2, 0, 3],
            "added": [5, 0, 7],
            "updated": [1, 0, 2],
            "removed": [0, 0, 1],
            "skipped": [0, 0, 0],
            "failed": [0, 4, 0],
            "retried": [0, 2, 0],
            "acknowledged": [5, 5, 6],
            "drift": [0, -2, 0],
            "status": ["ok", "failing", "ok"],
        }
    ),
}


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
    assert superset.password not in caplog.text
    imports = lake_query(home, "SELECT bundle, charts FROM superset_dashboard_imports")
    assert imports == [{"bundle": "shipped/cdp_overview", "charts": 6}]


def expected_chart_rows(settings: Settings, chart: dict[str, Any]) -> list[dict[str, Any]]:
    """What `cdpflow sql` computes for the chart's saved query: its columns (a time column by
    day), metrics (SQL expressions, by label) and equality filters, on the same lake table."""
    (query,) = json.loads(chart["query_context"])["queries"]
    table = next(
        path.stem
        for path in (OVERVIEW / "datasets" / "cdpflow").glob("*.yaml")
        if yaml.safe_load(path.read_text())["uuid"] == chart["dataset_uuid"]
    )
    columns = [
        f"{c['sqlExpression']}::DATE AS {c['label']}" if isinstance(c, dict) else c
        for c in query["columns"]
    ]
    metrics = [f"{m['sqlExpression']} AS {m['label']}" for m in query["metrics"]]
    where = " AND ".join(f"{f['col']} = '{f['val']}'" for f in query["filters"]) or "TRUE"
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(columns)))}" if columns else ""
    return lake_query(
        settings, f"SELECT {', '.join(columns + metrics)} FROM {table} WHERE {where}{group}"
    )


def comparable(rows: list[dict[str, Any]]) -> list[tuple[tuple[str, Any], ...]]:
    """Rows as sorted tuples: a day as Superset's epoch milliseconds, numbers rounded."""

    def value(v: Any) -> Any:
        if isinstance(v, date):
            return int(datetime(v.year, v.month, v.day, tzinfo=UTC).timestamp() * 1000)
        return round(v, 6) if isinstance(v, float) else v

    return sorted((tuple(sorted((k, value(v)) for k, v in r.items())) for r in rows), key=repr)


def test_with_every_overview_table_each_chart_shows_what_cdpflow_sql_computes(
    home: Settings, superset: SupersetServer
) -> None:
    for name, table in OTHER_OVERVIEW_TABLES.items():
        write_table(home, name, table)

    result = sync_superset_dashboard.run(home)

    assert result.imported == ["shipped/cdp_overview (CDP overview)"], result.summary()
    assert "left out" not in result.summary()
    client = admin(superset)
    charts = charts_of(client, int(dashboard(client, "CDP overview")["id"]))
    shipped = {
        config["slice_name"]: config
        for config in map(yaml.safe_load, map(Path.read_text, (OVERVIEW / "charts").glob("*.yaml")))
    }
    assert set(charts) == set(shipped)
    for name, chart_id in charts.items():
        shown = client.chart_data(chart_id)[0]["data"]
        expected = expected_chart_rows(home, shipped[name])
        assert expected, name  # the data above gives every chart something to show
        assert comparable(shown) == comparable(expected), name


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


SHOP_PIPELINE = (
    "type: files\nresources:\n  orders: {primary_key: order_id, path: imports/shop/orders.csv}\n"
)
HOOK = "type: webhook\nsegment: vip\nurl: https://crm.example/hooks\nsecret: hook_key\n"


def test_dag_runs_after_the_datasets_sync_and_on_the_reporting_interval(tmp_path: Path) -> None:
    cdp = tmp_path / "cdp"
    for folder, name, text in (
        ("pipelines", "shop", SHOP_PIPELINE),
        ("pipelines", "broken", "type: files\n"),
        ("destinations", "crm", HOOK),
    ):
        (cdp / folder).mkdir(parents=True, exist_ok=True)
        (cdp / folder / f"{name}.yml").write_text(text)
    parsed = parse_home_dags(tmp_path / "airflow", cdp)
    assert [Path(f).name for f in parsed["errors"]] == ["elt_broken.py"], parsed["errors"]
    dags = parsed["dags"]
    tables_dag = dags["sync_superset_tables"]
    assert tables_dag["tasks"]["sync_superset_tables"] == ["superset_datasets"]
    # a declared DAG's tables (an ELT pipeline's, an activation's records) sync when they land
    for table in ("core_events", "sessions", "segment_sizes", "shop__orders", "activation_runs"):
        assert f"'{table}'" in tables_dag["assets"], table
    dashboard_dag = dags["sync_superset_dashboard"]
    assert "superset_datasets" in dashboard_dag["assets"]
    assert "*/30 * * * *" in dashboard_dag["schedule"]
