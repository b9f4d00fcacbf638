"""Benchmark entity_creation: 20 segments (behavioural, trait, mixed, sql) and 3 funnels over a
synthetic shop, against a hand-written SQL query per segment on the same engine.

Run from the project root:

    .venv/bin/python bench/entities.py [--people 1000000 --events 10000000] [--repeat 3] [--keep]

The marts entity_creation reads are generated once into bench/.data/entities-p<P>-e<E>-s<seed>/
(numpy -> Parquet through DuckDB, no raw JSON or dbt) and reused: `unique_events` (one file per
event_date over 90 days, committed with its partitions as events_unified_view commits it) and
`customer_360` aggregated from them. The traffic is the storefront's: visits of skewed frequency
at the shop's hours (sample catalogue: products and their prices, collections, channels), each a
few page views and a funnel depth (viewed 55%, added 25% of those, checkout 45%, order 50%), some
searches before and a few refunds after an order. Each measured run is a fresh subprocess with a
fresh CDPFLOW_HOME whose lake hard-links the cached files:

1. full: `entity_creation` from nothing (every member enters), then again on the same data (a
   re-run that commits nothing), as of the day after the data;
2. queries: each segment's compiled SELECT and its hand-written equivalent, alternately, each
   counted through the engine's `query` (the same views, memory and threads), with the sizes
   compared: the hand-written query is the baseline and the check.

Engine settings come from the usual env vars (CDPFLOW_ENGINE_MEMORY_BYTES,
CDPFLOW_ENGINE_THREADS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from harness import child_main, is_child, median_run, run_child, spread, verdict

from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.sample import catalog as cat

BENCH = Path(__file__).resolve().parent
END = datetime(2026, 11, 24, tzinfo=UTC)  # the data's days end before this; runs are as of it
TODAY = END.date()
DAYS = 90
SEC = 1_000_000
DAY = 86_400 * SEC
END_US = int(END.timestamp()) * SEC
TARGET_S, TARGET_MIB = 30.0, 3 * 1024

SEARCHED, PAGE, VIEWED, ADDED, CHECKOUT, ORDER, REFUNDED = range(7)
NAMES = ("Products Searched", None, "Product Viewed", "Product Added", "Checkout Started",
         "Order Completed", "Order Refunded")  # fmt: skip
STEP_RATES = (0.55, 0.25, 0.45, 0.5)  # viewed; added | viewed; checkout | added; order | checkout


def day(n: int) -> str:
    return f"DATE '{TODAY - timedelta(days=n - 1)}'"  # the first of the last n days


# name -> (entity file body, hand-written SQL returning global_user_id)
SEGMENTS: dict[str, tuple[str, str]] = {
    "buyers": (
        "conditions: [{event: Order Completed}]",
        "SELECT DISTINCT global_user_id FROM unique_events WHERE event_name = 'Order Completed'",
    ),
    "repeat_buyers_90d": (
        "conditions: [{event: Order Completed, count: {at_least: 2}, within_days: 90}]",
        "SELECT global_user_id FROM unique_events WHERE event_name = 'Order Completed' "
        f"AND event_date >= {day(90)} GROUP BY 1 HAVING count(*) >= 2",
    ),
    "viewed_7d": (
        "conditions: [{event: Product Viewed, within_days: 7}]",
        "SELECT DISTINCT global_user_id FROM unique_events WHERE event_name = 'Product Viewed' "
        f"AND event_date >= {day(7)}",
    ),
    "frequent_viewers_30d": (
        "conditions: [{event: Product Viewed, count: 5, within_days: 30}]",
        "SELECT global_user_id FROM unique_events WHERE event_name = 'Product Viewed' "
        f"AND event_date >= {day(30)} GROUP BY 1 HAVING count(*) >= 5",
    ),
    "added_not_ordered_14d": (
        "conditions: [{event: Product Added, within_days: 14},"
        " {not: {event: Order Completed, within_days: 14}}]",
        "SELECT global_user_id FROM unique_events WHERE event_date >= "
        f"{day(14)} GROUP BY 1 HAVING bool_or(event_name = 'Product Added') "
        "AND NOT bool_or(event_name = 'Order Completed')",
    ),
    "searchers": (
        "conditions: [{event: Products Searched}]",
        "SELECT DISTINCT global_user_id FROM unique_events WHERE event_name = 'Products Searched'",
    ),
    "collection_browsers_30d": (
        "conditions: [{page: '*', where: {path: {starts_with: /collections/}}, within_days: 30}]",
        "SELECT DISTINCT global_user_id FROM unique_events WHERE event_type = 'page' "
        f"AND starts_with(path, '/collections/') AND event_date >= {day(30)}",
    ),
    "pricey_viewers": (
        "conditions: [{event: Product Viewed, where: {price: {greater_than: 60}}}]",
        "SELECT DISTINCT global_user_id FROM unique_events WHERE event_name = 'Product Viewed' "
        "AND CAST(properties->>'price' AS DOUBLE) > 60",
    ),
    "big_spenders": (
        "conditions: [{trait: revenue, op: greater_than, value: 200}]",
        "SELECT global_user_id FROM customer_360 WHERE revenue > 200",
    ),
    "frequent_buyers": (
        "conditions: [{trait: orders, op: at_least, value: 3}]",
        "SELECT global_user_id FROM customer_360 WHERE orders >= 3",
    ),
    "lapsed": (
        "conditions: [{trait: days_since_last_order, op: greater_than, value: 60}]",
        "SELECT global_user_id FROM customer_360 WHERE days_since_last_order > 60",
    ),
    "seen_this_week": (
        "conditions: [{trait: last_seen_at, op: within_last_days, value: 7}]",
        f"SELECT global_user_id FROM customer_360 WHERE CAST(last_seen_at AS DATE) >= {day(7)}",
    ),
    "many_sessions": (
        "conditions: [{trait: sessions, op: at_least, value: 5}]",
        "SELECT global_user_id FROM customer_360 WHERE sessions >= 5",
    ),
    "paid_first_touch": (
        "conditions: [{trait: first_touch_channel, op: in, value: [google_cpc, bing_cpc]}]",
        "SELECT global_user_id FROM customer_360 "
        "WHERE first_touch_channel IN ('google_cpc', 'bing_cpc')",
    ),
    "org_emails": (
        "conditions: [{trait: emails, op: contains, value: example.org}]",
        "SELECT global_user_id FROM customer_360 "
        "WHERE list_bool_or([contains(e, 'example.org') FOR e IN emails])",
    ),
    "no_phone": (
        "conditions: [{trait: phones, op: is_not_set}]",
        "SELECT global_user_id FROM customer_360 WHERE len(phones) = 0 OR phones IS NULL",
    ),
    "vip": (
        "match: any\nconditions: [{trait: revenue, op: greater_than, value: 500},"
        " {trait: orders, op: at_least, value: 5}]",
        "SELECT global_user_id FROM customer_360 WHERE revenue > 500 OR orders >= 5",
    ),
    "engaged_non_buyers": (
        "conditions: [{trait: sessions, op: at_least, value: 3}, {not: {event: Order Completed}}]",
        "SELECT global_user_id FROM customer_360 WHERE sessions >= 3 AND coalesce(orders, 0) = 0",
    ),
    "warm_viewers": (
        "conditions:\n  - {in_segment: viewed_7d}\n  - match: any\n    conditions:\n"
        "      - {trait: revenue, op: at_least, value: 50}\n"
        "      - {event: Product Added, within_days: 30}",
        "SELECT global_user_id FROM unique_events WHERE event_name = 'Product Viewed' "
        f"AND event_date >= {day(7)} INTERSECT (SELECT global_user_id FROM customer_360 "
        "WHERE revenue >= 50 UNION SELECT global_user_id FROM unique_events "
        f"WHERE event_name = 'Product Added' AND event_date >= {day(30)})",
    ),
    "high_value_sql": (  # the shop pack's high_value_customers
        "sql: select global_user_id from customer_360 where revenue > 0 and revenue >= "
        "(select quantile_cont(revenue, 0.9) from customer_360 where revenue > 0)",
        "WITH edge AS (SELECT quantile_cont(revenue, 0.9) AS r FROM customer_360 "
        "WHERE revenue > 0) SELECT global_user_id FROM customer_360, edge "
        "WHERE revenue > 0 AND revenue >= edge.r",
    ),
}
FUNNELS = {
    "purchase": "steps: [{event: Product Viewed}, {event: Product Added},"
    " {event: Checkout Started}, {event: Order Completed}]\nwindow_days: 7\n",
    "checkout_strict": "steps: [{event: Product Added}, {event: Checkout Started},"
    " {event: Order Completed}]\nwindow_days: 1\norder: strict\n",
    "discovery_any": "steps: [{event: Products Searched}, {event: Product Viewed},"
    " {event: Product Added}]\nwindow_days: 3\norder: any\nexclude: [{event: Order Refunded}]\n",
}


# -- the synthetic marts -----------------------------------------------------------------------


def _strings(prefix: str, ids: np.ndarray, width: int) -> pa.Array:
    return pa.array(np.char.add(prefix, np.char.zfill(ids.astype(str), width)))


def generate(people: int, events: int, seed: int, out: Path) -> dict[str, Any]:
    """unique_events and customer_360 as Parquet under out/<table>/, with their DataFiles."""
    rng = np.random.default_rng(seed)
    mean_len = 1 / 0.45 + 0.1 + sum(np.cumprod(STEP_RATES))  # pages + search + funnel steps
    visits = int(events / mean_len * 1.05)
    # who: a skewed share of people visit often; ids shuffled so heavy ones are spread
    person = rng.permutation(people)[(people * rng.random(visits) ** 1.7).astype(np.int64)]
    hour = rng.choice(24, size=visits, p=np.array(cat.HOUR_WEIGHTS) / sum(cat.HOUR_WEIGHTS))
    start = (
        int((END - timedelta(days=DAYS)).timestamp()) * SEC
        + rng.integers(0, DAYS, visits) * DAY
        + hour * 3600 * SEC
        + rng.integers(0, 3600 * SEC, visits)
    )
    pages = rng.geometric(0.45, visits)
    depth = np.zeros(visits, np.int64)
    alive = np.ones(visits, bool)
    for rate in STEP_RATES:
        alive &= rng.random(visits) < rate
        depth += alive
    searched = rng.random(visits) < 0.1
    refunded = (depth == 4) & (rng.random(visits) < 0.05)
    length = searched + pages + depth + refunded
    ends = np.cumsum(length)
    visit = np.repeat(np.arange(visits), length)[:events]
    pos = np.arange(len(visit)) - (ends - length)[visit]
    s, p, d = searched[visit], pages[visit], depth[visit]
    kind = np.where(
        pos < s,
        SEARCHED,
        np.where(pos < s + p, PAGE, np.where(pos < s + p + d, VIEWED + pos - s - p, REFUNDED)),
    )
    gaps = rng.exponential(45 * SEC, len(visit)).astype(np.int64) + SEC
    cum = np.cumsum(gaps)
    first = np.r_[0, ends[:-1]]
    t = np.minimum(start[visit] + cum - cum[np.minimum(first[visit], len(cum) - 1)], END_US - 1)
    product = rng.integers(0, len(cat.PRODUCTS), len(visit))
    page = np.where(rng.random(len(visit)) < 0.5, product + 100, rng.integers(0, 8, len(visit)))
    paths = (["/", "/cart", "/search", "/pages/about"]
             + [f"/collections/{c}" for c in cat.COLLECTIONS[:4]])  # fmt: skip
    path_of = np.array(paths + [f"/products/{p.handle}" for p in cat.PRODUCTS], object)
    path_index = np.where(page >= 100, page - 100 + len(paths), page)
    price = np.array([p.price for p in cat.PRODUCTS])
    quantity = rng.integers(1, 4, len(visit))
    revenue = np.where(kind == ORDER, np.round(price[product] * quantity, 2), np.nan)
    props = np.full(len(visit), "{}", object)
    product_kinds = np.isin(kind, (VIEWED, ADDED))
    prop_text = np.array(
        [json.dumps({"product_id": p.product_id, "price": p.price}) for p in cat.PRODUCTS], object
    )
    props[product_kinds] = prop_text[product[product_kinds]]
    names = np.array(NAMES, object)[kind]
    table = pa.table(
        {
            "event_id": _strings("e", np.arange(len(visit)), 9),
            "global_user_id": _strings("gu_", person[visit], 7),
            "event_type": pa.array(np.where(kind == PAGE, "page", "track")),
            "event_name": pa.array(np.where(kind == PAGE, "Page", names), pa.string()),
            "event_time": pa.array(t, pa.timestamp("us", tz="UTC")),
            "event_date": pa.array((t // DAY).astype(np.int32), pa.date32()),
            "path": pa.array(np.where(kind == PAGE, path_of[path_index], None), pa.string()),
            "revenue": pa.array(revenue, mask=np.isnan(revenue)),
            "currency": pa.array(np.where(kind == ORDER, "USD", None), pa.string()),
            "properties": pa.array(props, pa.string()),
            "tracker_session_id": _strings("v", visit, 8),
        }
    )
    del visit, pos, kind, t, props, names
    con = duckdb.connect(config={"threads": os.cpu_count() or 1})
    con.execute("SET TimeZone = 'UTC'")
    con.register("generated", table)
    files: dict[str, list[DataFile]] = {"unique_events": [], "customer_360": []}
    for (day_value,) in con.execute(
        "SELECT DISTINCT event_date FROM generated ORDER BY 1"
    ).fetchall():
        rel = f"event_date={day_value}/part-{uuid.uuid4().hex[:12]}.parquet"
        path = out / "unique_events" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY (SELECT * FROM generated WHERE event_date = DATE '{day_value}' "
            f"ORDER BY event_time) TO '{path}' (FORMAT parquet, COMPRESSION zstd)"
        )
        rows = pq.ParquetFile(path).metadata.num_rows
        files["unique_events"].append(
            DataFile(rel, rows, path.stat().st_size, partition={"event_date": str(day_value)})
        )
    channels = ", ".join(f"'{c}'" for c in cat.CHANNELS)
    domains = ", ".join(f"'{d}'" for d in cat.EMAIL_DOMAINS)
    rel = f"part-{uuid.uuid4().hex[:12]}.parquet"
    path = out / "customer_360" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"""COPY (
        SELECT global_user_id, min(event_time) AS first_seen_at, max(event_time) AS last_seen_at,
          [replace(global_user_id, 'gu_', 'p') || '@' || ([{domains}])
           [CAST(1 + hash(global_user_id) % {len(cat.EMAIL_DOMAINS)} AS BIGINT)]] AS emails,
          CASE WHEN hash(global_user_id) % 10 < 3 THEN ['+1415' || right(global_user_id, 7)]
               ELSE [] END::VARCHAR[] AS phones,
          count(DISTINCT tracker_session_id) AS sessions,
          count(*) FILTER (WHERE event_name = 'Order Completed') AS orders,
          coalesce(sum(revenue), 0) AS revenue,
          max(event_time) FILTER (WHERE event_name = 'Order Completed') AS last_order_at,
          date_diff('day', CAST(max(event_time) FILTER (WHERE event_name = 'Order Completed')
            AS DATE), DATE '{TODAY}') AS days_since_last_order,
          ([{channels}])[CAST(1 + hash(global_user_id || 'c') % {len(cat.CHANNELS)} AS BIGINT)] AS
            first_touch_channel
        FROM generated GROUP BY global_user_id ORDER BY global_user_id
        ) TO '{path}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    files["customer_360"].append(
        DataFile(rel, pq.ParquetFile(path).metadata.num_rows, path.stat().st_size)
    )
    columns = {
        name: [
            (c, str(k))
            for c, k, *_ in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet('{out / name}/**/*.parquet')"
            ).fetchall()
        ]
        for name in files
    }
    con.close()
    return {
        "columns": columns,
        "files": {n: [asdict(f) for f in fs] for n, fs in files.items()},
        "events": sum(f.rows for f in files["unique_events"]),
        "people": files["customer_360"][0].rows,
    }  # fmt: skip


def cached(people: int, events: int, seed: int) -> tuple[Path, dict[str, Any]]:
    data = BENCH / ".data" / f"entities-p{people}-e{events}-s{seed}"
    meta = data / "meta.json"
    if not meta.exists():
        shutil.rmtree(data, ignore_errors=True)
        started = time.monotonic()
        info = generate(people, events, seed, data / "tables")
        info["generate_seconds"] = round(time.monotonic() - started, 1)
        meta.write_text(json.dumps(info, default=str))
    return data, json.loads(meta.read_text())


def make_home(data: Path, info: dict[str, Any], root: Path) -> Path:
    """A fresh home whose lake hard-links the cached marts, committed as their jobs commit them,
    and the 23 entity files."""
    home = root / f"home-{uuid.uuid4().hex[:8]}"
    lake = Lake(str(home / "lake"))
    tables = TableStore(lake)
    for name, listed in info["files"].items():
        for f in listed:
            target = home / "lake" / name / f["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(data / "tables" / name / f["path"], target)
        tables.commit(
            name,
            None,
            operation="bench",
            add=[DataFile(**f) for f in listed],
            columns=[tuple(c) for c in info["columns"][name]],
        )
    folder = home / "entities"
    folder.mkdir(parents=True)
    for name, (body, _) in SEGMENTS.items():
        (folder / f"{name}.yml").write_text(f"kind: segment\n{body}\n")
    for name, body in FUNNELS.items():
        (folder / f"{name}.yml").write_text(f"kind: funnel\n{body}")
    return home


# -- children ----------------------------------------------------------------------------------


def child_full() -> dict[str, Any]:
    from cdpflow.jobs import Interval, entity_creation
    from cdpflow.settings import load_settings

    settings = load_settings()
    started = time.monotonic()
    first = entity_creation.run(settings, Interval(end=END))
    first_s = time.monotonic() - started
    started = time.monotonic()
    again = entity_creation.run(settings, Interval(end=END))
    return {
        "first_s": first_s,
        "rerun_s": time.monotonic() - started,
        "segments": first.segments,
        "funnels": first.funnels,
        "entered": first.entered,
        "broken": first.broken,
        "rerun_written": again.written,
    }


def child_queries() -> dict[str, Any]:
    from cdpflow.engine import open_engine
    from cdpflow.entities.compile import Compiler
    from cdpflow.entities.folder import load_folder
    from cdpflow.jobs.entity_creation import lake_schema
    from cdpflow.settings import load_settings

    settings = load_settings()
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    loaded = load_folder(settings.home / "entities")
    compiler = Compiler(lake_schema(tables), END, loaded.segments)
    engine = open_engine(settings, lake)
    out: dict[str, Any] = {}
    try:
        engine.query("SELECT count(*) FROM unique_events", tables)  # warm the file cache
        for name, (_, hand) in SEGMENTS.items():
            figures = {}
            for label, sql in (
                ("compiled", compiler.segment_sql(loaded.segments[name])),
                ("hand", hand),
            ):
                started = time.monotonic()
                counted = f"SELECT count(DISTINCT global_user_id) AS n FROM ({sql})"
                rows = engine.query(counted, tables)
                figures[label] = (time.monotonic() - started, rows.to_pylist()[0]["n"])
            out[name] = figures
    finally:
        engine.close()
    return out


CHILDREN = {"full": child_full, "queries": child_queries}


# -- the report --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the homes under bench/.data")
    args = parser.parse_args()
    data, info = cached(args.people, args.events, args.seed)
    print(
        f"data: {info['events']:,} events, {info['people']:,} people in customer_360 "
        f"({data.name}; generated in {info.get('generate_seconds', '?')} s); "
        f"{len(SEGMENTS)} segments, {len(FUNNELS)} funnels; {os.cpu_count()} cores"
    )
    root = data / "homes"
    runs = []
    try:
        for i in range(args.repeat):
            home = make_home(data, info, root)
            runs.append(run_child(__file__, ["full"], home=home, label=f"full run {i + 1}"))
        home = make_home(data, info, root)
        queries = run_child(__file__, ["queries"], home=home, label="queries")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'run':<14}{'wall s':>8}{'job s':>8}{'re-run s':>10}{'peak MiB':>10}{'CPU s':>8}")
    for r in runs:
        print(
            f"{r['name']:<14}{r['wall']:>8.1f}{r['first_s']:>8.1f}{r['rerun_s']:>10.1f}"
            f"{r['peak_mib']:>10,.0f}{r['cpu_seconds']:>8.1f}"
        )
    best = median_run(runs, key=lambda r: r["first_s"])
    sizes = best["segments"]
    assert not best["broken"], best["broken"]
    print(f"\nfunnels (people who entered step 1): {best['funnels']}")
    print(f"members entered on the first run: {best['entered']:,}")
    print(f"re-run on the same data wrote: {best['rerun_written'] or 'nothing'}")
    print(f"\n{'segment':<26}{'size':>10}{'compiled s':>12}{'hand s':>9}{'ratio':>7}")
    compiled_total = hand_total = 0.0
    mismatches = []
    for name in SEGMENTS:
        (c_s, c_n), (h_s, h_n) = queries[name]["compiled"], queries[name]["hand"]
        compiled_total += c_s
        hand_total += h_s
        if not c_n == h_n == sizes[name]:
            mismatches.append(f"{name}: job {sizes[name]}, compiled {c_n}, hand {h_n}")
        print(f"{name:<26}{c_n:>10,}{c_s:>12.3f}{h_s:>9.3f}{c_s / h_s:>7.1f}")
    print(
        f"{'all 20':<26}{'':>10}{compiled_total:>12.2f}{hand_total:>9.2f}"
        f"{compiled_total / hand_total:>7.1f}"
    )
    print()
    print("full run, " + spread([r["first_s"] for r in runs]) + " s")
    print(verdict("full run (median)", best["first_s"], TARGET_S, "s", at_most=True))
    peak = max(r["peak_mib"] for r in runs)
    print(verdict("peak memory (largest run)", peak, TARGET_MIB, "MiB", at_most=True))
    if mismatches:
        raise SystemExit("sizes differ: " + "; ".join(mismatches))
    print("every segment's size: the job = its compiled query = the hand-written query")
    print(f"re-run median: {statistics.median(r['rerun_s'] for r in runs):.1f} s")


if __name__ == "__main__":
    if is_child():
        child_main(CHILDREN)
    else:
        main()
