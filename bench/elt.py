"""Benchmark a shopify ELT pipeline end to end: full sync, a 1% incremental sync, and a plain
pyarrow write of the same rows.

Run from the project root:

    .venv/bin/python bench/elt.py [--orders 1000000 --customers 200000] [--repeat 1]

The shop is the contract server of the tests (tests/fakes/shopify.py) in a process of its own,
holding every row as its JSON bytes, so a page is a join of bytes and the server costs little
next to the job (a process of its own because a child started by a parent holding the shop's
10 GB reports that as its peak RSS: Linux keeps the parent's high-water mark in the child's
`ru_maxrss` across exec). Its leaky bucket is made large enough never to refuse (a real shop on
the standard plan answers 2 requests/s, 500 rows/s at 250 a page: the bench measures cdpflow,
not the plan). Each measurement is a fresh subprocess (bench/harness.py) running the job as
`cdpflow run elt_shop` does, over HTTP on loopback:
- full: `elt_shop` on an empty lake: every customer, order and product, paged 250 at a time,
  flattened, checked, merged and committed;
- incremental: after 1% of the rows changed (half of them updates to existing customers and
  orders, half new ones), `elt_shop` again: `updated_at_min` from the state, the merge;
- pyarrow: `pyarrow.parquet.write_table` (zstd) of the landed customers and orders, read back
  from the lake first (untimed): the floor of writing those rows at all.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness import child_main, is_child, run_child, verdict

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TOKEN = "shpat_bench_0123456789"
TARGET_ROWS_PER_S, TARGET_MIB, TARGET_INCREMENTAL_S = 20_000, 1024, 5.0


def _settings(home: Path):  # type: ignore[no-untyped-def]
    from cdpflow.settings import load_settings

    return load_settings(env={}, home=home)


def child_sync(home: str) -> dict[str, Any]:
    from cdpflow.elt.job import run
    from cdpflow.jobs import Interval

    settings = _settings(Path(home))
    t = time.monotonic()
    result = run(settings, Interval(), name="shop")
    return {
        "seconds": time.monotonic() - t,
        "loaded": sum(result.loaded.values()),
        "rows": result.rows,
    }


def child_pyarrow(home: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cdpflow.lake.storage import Lake
    from cdpflow.lake.tables import TableStore

    settings = _settings(Path(home))
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    parts = {}
    for table in ("shop__customers", "shop__orders"):
        snapshot = tables.current(table)
        assert snapshot is not None
        parts[table] = pa.concat_tables(
            [pq.read_table(lake.open(f"{table}/{f.path}")) for f in snapshot.files]
        ).drop_columns(["_loaded_at"])
    rows = sum(t.num_rows for t in parts.values())
    with tempfile.TemporaryDirectory(dir=home) as out:
        t = time.monotonic()
        for table, data in parts.items():
            pq.write_table(data, Path(out) / f"{table}.parquet", compression="zstd")
        seconds = time.monotonic() - t
    return {"seconds": seconds, "loaded": rows}


CHILDREN = {"sync": child_sync, "pyarrow": child_pyarrow}


def _change_one_percent(shop: Any, customers: int, orders: int) -> int:
    """Update 0.5% of the customers and orders, and add as many new ones."""
    changed = 0
    for resource, n in (("customers", customers), ("orders", orders)):
        ids = shop.tables[resource].ids
        step = max(1, len(ids) // max(1, n // 200))
        for row_id in list(ids[::step])[: n // 200]:
            if resource == "orders":
                shop.update(resource, row_id, financial_status="refunded")
            else:
                shop.update(resource, row_id, email=f"moved.{row_id}@example.com")
            changed += 1
        template = shop.record(resource, ids[0])
        for _ in range(n // 200):
            item = {
                k: v for k, v in template.items() if k not in ("id", "created_at", "updated_at")
            }
            shop.add(resource, item)
            changed += 1
    return changed


def _serve_shop(conn: Any, customers: int, orders: int, products: int) -> None:
    """The shop's process: generate it, serve it, change 1% of it when asked, until "stop"."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes.shopify import Shop, generate, serve

    shop = Shop(TOKEN, bucket_size=10**9, leak_per_second=10**6)
    t = time.monotonic()
    generate(shop, customers, orders, products)
    server = serve(shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send((shop.url, time.monotonic() - t))
    while conn.recv() == "change":
        conn.send(_change_one_percent(shop, customers, orders))
    server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--products", type=int, default=200)
    args = parser.parse_args()
    from cdpflow.secrets import open_secrets

    spawn = multiprocessing.get_context("spawn")
    conn, shop_end = spawn.Pipe()
    shop = spawn.Process(
        target=_serve_shop, args=(shop_end, args.customers, args.orders, args.products)
    )
    shop.start()
    url, generated = conn.recv()
    print(f"shop generated in {generated:.0f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-elt-", dir=BENCH) as scratch:
        home = Path(scratch) / "home"
        (home / "pipelines").mkdir(parents=True)
        (home / "pipelines" / "shop.yml").write_text(
            f"type: shopify\nshop: bench.myshopify.com\napi_base_url: {url}\n"
        )
        open_secrets(_settings(home)).put("shop_token", TOKEN)
        full = run_child(__file__, ["sync", str(home)], label="full sync")
        conn.send("change")
        changed = conn.recv()
        incremental = run_child(__file__, ["sync", str(home)], label="1% incremental")
        baseline = run_child(__file__, ["pyarrow", str(home)], label="pyarrow write")
    conn.send("stop")
    shop.join()

    total = args.orders + args.customers + args.products
    print(f"\nshop: {args.customers:,} customers, {args.orders:,} orders, {args.products} products")
    print(
        f"{'run':<18}{'rows':>11}{'job s':>8}{'wall s':>8}{'CPU s':>8}{'rows/s':>10}"
        f"{'peak MiB':>10}"
    )
    for r in (full, incremental, baseline):
        rate = r["loaded"] / r["seconds"] if r["seconds"] else 0
        print(
            f"{r['name']:<18}{r['loaded']:>11,}{r['seconds']:>8.1f}{r['wall']:>8.1f}"
            f"{r['cpu_seconds']:>8.1f}"
            f"{rate:>10,.0f}{r['peak_mib']:>10,.0f}"
        )
    print(f"incremental: {changed:,} rows changed in the shop; tables after: {incremental['rows']}")
    full_rate = full["loaded"] / full["wall"]
    print(
        verdict("full sync (wall, Python start included)", full_rate, TARGET_ROWS_PER_S, "rows/s")
    )
    print(verdict("full sync peak memory", full["peak_mib"], TARGET_MIB, "MiB", at_most=True))
    print(
        verdict(
            "1% incremental (wall)", incremental["wall"], TARGET_INCREMENTAL_S, "s", at_most=True
        )
    )
    print(
        f"pyarrow write alone: {baseline['loaded'] / baseline['seconds']:,.0f} rows/s; "
        f"full sync is {full_rate / (baseline['loaded'] / baseline['seconds']):.2f}x of it"
    )
    assert full["loaded"] >= total


if __name__ == "__main__":
    if is_child():
        child_main(CHILDREN)
    else:
        main()
