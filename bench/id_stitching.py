"""Benchmark the identity graph: full build, a 1% incremental run, and two baselines.

Run from the project root:

    .venv/bin/python bench/id_stitching.py [--identifiers 10000000] [--no-networkx]

A synthetic graph shaped like real traffic is generated once into bench/.data/ and reused: people
of 1-6 identifiers (mostly one or two anonymous ids, some user_id / email / phone), a few large
components of thousands to 100k identifiers, about one link per identifier, and a further 1% of
links (new visitors, returning ones logging in, a few bridges between people) for the
incremental run. Each measurement is a fresh subprocess reporting its phases' wall time and its
own peak RSS:
- full: the job's full build (`recompute`: the pure graph, `identity.graph.stitch`, over every
  identifier and link), then the lake write of `identities` and `identity_edges`;
- incremental: the job's path for the 1% new links on that lake (`recompute`, `publish_identities`):
  load the touched people and the touched identifiers' links (DuckDB over the Parquet tables),
  join the people by the new links (`identity.unite`; `stitch` when a cap is involved), write the
  changed rows as identities' delta; then a reader's scan of identities with that delta and
  after folding it into the base, and the fold itself;
- scipy: `scipy.sparse.csgraph.connected_components` alone on the same links (already integers);
- networkx: `nx.connected_components` on the same links (graph build included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from harness import child_main, is_child, run_child

BENCH = Path(__file__).resolve().parent
NOW = datetime(2026, 11, 24, tzinfo=UTC)
DAY_US = 86_400_000_000
START_US = int(NOW.timestamp() * 1_000_000) - 90 * DAY_US
TARGET_FULL_S, TARGET_FULL_MIB, TARGET_INCREMENTAL_S = 20.0, 4096, 3.0
MiB = 1 << 20
TYPES = np.array(["anonymous_id", "user_id", "email", "phone"])


# -- the synthetic graph -----------------------------------------------------------------------


def _values(kind: np.ndarray, number: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Identifier strings of realistic length: 32-hex anonymous ids, cus_ ids, emails, E.164."""
    n = len(kind)
    hexed = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[
        rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    ]
    anon = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(hexed)])
    anon = anon.cast(pa.binary()).cast(pa.string())
    digits = pa.array(number).cast(pa.string())
    user = pc.binary_join_element_wise("cus_", digits, "")
    email = pc.binary_join_element_wise("shopper", digits, "@example.com", "")
    phone = pc.binary_join_element_wise(
        "+1", pa.array(2_000_000_000 + number).cast(pa.string()), ""
    )
    out = pc.if_else(pa.array(kind == 0), anon, user)
    out = pc.if_else(pa.array(kind == 2), email, out)
    return pc.if_else(pa.array(kind == 3), phone, out)


def _people(n: int, rng: np.random.Generator) -> np.ndarray:
    """Sizes of people adding up to n: most 1-6 identifiers, a few large components."""
    large = []
    budget = n // 50  # 2% of identifiers in large components
    while budget > 0:
        size = int(min(budget, max(1_000, rng.lognormal(9.0, 1.2)), 100_000))
        large.append(size)
        budget -= size
    small_total = n - sum(large)
    sizes = rng.choice(np.arange(1, 7), size=small_total, p=[0.4, 0.25, 0.14, 0.1, 0.06, 0.05])
    cut = int(np.searchsorted(np.cumsum(sizes), small_total))
    sizes = sizes[: cut + 1]
    sizes[-1] -= int(sizes.sum()) - small_total
    sizes = sizes[sizes > 0]
    return rng.permutation(np.concatenate([sizes, np.array(large, dtype=sizes.dtype)]))


def generate(n: int, seed: int, root: Path) -> None:
    rng = np.random.default_rng(seed)
    sizes = _people(n, rng)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    person = np.repeat(np.arange(len(sizes)), sizes)
    pos = np.arange(n) - start[person]
    kind = np.where(pos == 0, 0, rng.choice(4, size=n, p=[0.5, 0.15, 0.2, 0.15]))
    first = START_US + rng.integers(0, 90 * DAY_US, size=n)
    last = first + rng.integers(0, 10 * DAY_US, size=n)
    values = _values(kind, np.arange(n), rng)

    # A random tree per person (each identifier linked to an earlier one), plus extra links
    # inside people, to about one link per identifier in all.
    child = np.flatnonzero(pos > 0)
    parent = start[person[child]] + (rng.random(len(child)) * pos[child]).astype(np.int64)
    extra_n = int((n - len(child)) * 1.22)  # some extra links are self links, dropped
    big = np.flatnonzero(sizes[person] >= 3)
    a = rng.choice(big, size=extra_n)
    b = start[person[a]] + (rng.random(extra_n) * sizes[person[a]]).astype(np.int64)
    left = np.concatenate([parent, a])
    right = np.concatenate([child, b])
    keep = left != right
    left, right = left[keep], right[keep]

    # The incremental run: 1% more links. New visitors (a new anonymous id on an existing
    # person), logins joining two existing people, and links between brand-new identifiers.
    m = n // 100
    new_ids = m // 2
    new_kind = rng.choice(4, size=new_ids, p=[0.6, 0.15, 0.15, 0.1])
    new_values = _values(new_kind, n + np.arange(new_ids), rng)
    new_first = NOW.timestamp() * 1_000_000 - rng.integers(0, DAY_US, size=new_ids)
    attach = rng.integers(0, n, size=new_ids)  # each new identifier linked to an existing one
    bridges = m - new_ids
    bl, br = rng.integers(0, n, size=bridges), rng.integers(0, n, size=bridges)

    def ident(idx: np.ndarray) -> tuple[pa.Array, pa.Array]:
        return pa.array(TYPES[kind[idx]]), values.take(pa.array(idx))

    def sightings(types: pa.Array, vals: pa.Array, f: np.ndarray, la: np.ndarray) -> pa.Table:
        return pa.table(
            {
                "identifier_type": types,
                "identifier_value": vals,
                "first_seen_at": pa.array(f.astype(np.int64)).cast(pa.timestamp("us", "UTC")),
                "last_seen_at": pa.array(la.astype(np.int64)).cast(pa.timestamp("us", "UTC")),
                "source": pa.array(["events:web"] * len(f)),
            }
        )

    def pairs(lt, lv, rt, rv, f: np.ndarray) -> pa.Table:  # type: ignore[no-untyped-def]
        return pa.table(
            {
                "left_type": lt,
                "left_value": lv,
                "right_type": rt,
                "right_value": rv,
                "first_seen_at": pa.array(f.astype(np.int64)).cast(pa.timestamp("us", "UTC")),
                "source": pa.array(["events:web"] * len(f)),
            }
        )

    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        sightings(pa.array(TYPES[kind]), values, first, last), root / "sightings.parquet"
    )
    pq.write_table(
        _canonical(pairs(*ident(left), *ident(right), np.maximum(first[left], first[right]))),
        root / "pairs.parquet",
    )
    # the new run's sightings: the new identifiers and every existing one it links
    touched = np.unique(np.concatenate([attach, bl, br]))
    now_us = int(NOW.timestamp() * 1_000_000)
    tt, tv = ident(touched)
    new_s = pa.concat_tables(
        [
            sightings(pa.array(TYPES[new_kind]), new_values, new_first, new_first),
            sightings(tt, tv, np.full(len(touched), now_us - 1), np.full(len(touched), now_us)),
        ]
    )
    pq.write_table(new_s, root / "new_sightings.parquet")
    at, av = ident(attach)
    bt, bv = ident(bl)
    ct, cv = ident(br)
    new_p = pa.concat_tables(
        [
            pairs(at, av, pa.array(TYPES[new_kind]), new_values, new_first),
            pairs(bt, bv, ct, cv, np.full(bridges, now_us - 1)),
        ]
    )
    pq.write_table(_canonical(new_p), root / "new_pairs.parquet")
    (root / "done").write_text(json.dumps({"identifiers": n, "people": len(sizes)}))


# -- measured children ---------------------------------------------------------------------


def _canonical(pairs: pa.Table) -> pa.Table:
    """Pairs with the smaller (type, value) on the left, as the job stores them."""
    left = pc.binary_join_element_wise(pairs["left_type"], pairs["left_value"], "\x1f")
    right = pc.binary_join_element_wise(pairs["right_type"], pairs["right_value"], "\x1f")
    swap = pc.greater(left, right)
    out = {}
    for side, other in (("left", "right"), ("right", "left")):
        for col in ("type", "value"):
            out[f"{side}_{col}"] = pc.if_else(swap, pairs[f"{other}_{col}"], pairs[f"{side}_{col}"])
    out["first_seen_at"] = pairs["first_seen_at"]
    out["source"] = pairs["source"]
    return pa.table(out)


def _settings(home: Path):  # type: ignore[no-untyped-def]
    from cdpflow.settings import load_settings

    return load_settings(
        env={k: v for k, v in os.environ.items() if k.startswith(("CDPFLOW_E", "CDPFLOW_SPARK_"))},
        home=home,
    )


def child_full(data: Path, home: Path) -> dict[str, float]:
    from cdpflow.engine import identity_io, open_engine
    from cdpflow.identity.config import IdentityConfig
    from cdpflow.identity.prepare import JUNK, Prepared
    from cdpflow.jobs.id_stitching_incremental import recompute
    from cdpflow.lake.storage import Lake
    from cdpflow.lake.tables import TableStore

    phases: dict[str, float] = {}
    t = time.monotonic()
    sightings = pq.read_table(data / "sightings.parquet")
    pairs = pq.read_table(data / "pairs.parquet")
    phases["read input"] = time.monotonic() - t
    settings = _settings(home)
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    engine = open_engine(settings, lake)
    try:
        io = identity_io(engine)
        t = time.monotonic()
        prepared = Prepared(sightings, pairs, JUNK.empty_table())
        done = recompute(io, tables, prepared, IdentityConfig().cap_for, NOW, full_rebuild=True)
        phases["graph"] = time.monotonic() - t
        phases["people"] = done.stitched.components
        del prepared, sightings, pairs
        t = time.monotonic()
        _publish(io, tables, done, full_rebuild=True)
        phases["lake write"] = time.monotonic() - t
    finally:
        engine.close()
    return phases


def _publish(io: Any, tables: Any, done: Any, *, full_rebuild: bool) -> Any:
    """Commit a run's new links and identities as the job does; returns the store."""
    from cdpflow.identity.store import EDGES_TABLE, IdentityStore, ReadState
    from cdpflow.jobs.id_stitching_incremental import publish_identities
    from cdpflow.lake.storage import staging_dir

    store = IdentityStore(tables.lake, tables)
    write_links = store.replace if full_rebuild else store.append
    write_links(EDGES_TABLE, done.stitched.new_edges, "bench")
    staging = staging_dir("bench")
    try:
        publish_identities(io, store, tables, done, ReadState(), staging, full_rebuild=full_rebuild)
    finally:
        tables.lake.remove(staging)
    return store


class _TimedIO:
    """The engine's identity I/O, adding up the time spent loading stored rows."""

    def __init__(self, io: Any) -> None:
        self.io = io
        self.loading = 0.0
        self.links_loaded = 0

    def load_people(self, tables: Any, touched: pa.Table) -> pa.Table:
        t = time.monotonic()
        members = self.io.load_people(tables, touched)
        self.loading += time.monotonic() - t
        return members

    def load_links(self, tables: Any, ends: pa.Table) -> pa.Table:
        t = time.monotonic()
        links = self.io.load_links(tables, ends)
        self.loading += time.monotonic() - t
        self.links_loaded += links.num_rows
        return links

    def __getattr__(self, name: str) -> Any:
        return getattr(self.io, name)


def child_incremental(data: Path, home: Path) -> dict[str, float]:
    from cdpflow.engine import identity_io, open_engine
    from cdpflow.identity.config import IdentityConfig
    from cdpflow.identity.prepare import JUNK, Prepared
    from cdpflow.identity.store import ReadState
    from cdpflow.jobs.id_stitching_incremental import recompute
    from cdpflow.lake.storage import Lake, staging_dir
    from cdpflow.lake.tables import TableStore

    phases: dict[str, float] = {}
    new = Prepared(
        pq.read_table(data / "new_sightings.parquet"),
        pq.read_table(data / "new_pairs.parquet"),
        JUNK.empty_table(),
    )
    settings = _settings(home)
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    engine = open_engine(settings, lake)
    try:
        io = _TimedIO(identity_io(engine))
        t = time.monotonic()
        done = recompute(io, tables, new, IdentityConfig().cap_for, NOW, full_rebuild=False)
        phases["load touched people"] = io.loading
        phases["graph"] = time.monotonic() - t - io.loading
        phases["joined by the new links"] = float(done.united)
        phases["identifiers in scope"] = done.stitched.identities.num_rows
        phases["links loaded"] = io.links_loaded
        phases["changed rows"] = done.changed.num_rows
        t = time.monotonic()
        store = _publish(io, tables, done, full_rebuild=False)
        phases["lake write"] = time.monotonic() - t

        # A later run finds that delta in place: the same sightings again, for the cost of
        # loading the touched people through it (their links are known by now).
        io.loading = 0.0
        t = time.monotonic()
        recompute(io, tables, new, IdentityConfig().cap_for, NOW, full_rebuild=False)
        phases["again: load"] = io.loading
        phases["again: graph"] = time.monotonic() - t - io.loading

        # What the delta costs a reader, and what folding it into the base costs the run that
        # does it (every few runs).
        phases["read with delta"] = _best_read(engine, tables)
        t = time.monotonic()
        files = io.write_identities(
            tables, done.changed.slice(0, 0), staging_dir("bench"), keep_old=True
        )
        store.commit_identities(
            files, delta=False, rows=tables.get("identities").rows, state=ReadState(),
            operation="bench",
        )  # fmt: skip
        phases["fold into base"] = time.monotonic() - t
        phases["read base only"] = _best_read(engine, tables)
    finally:
        engine.close()
    return phases


def _best_read(engine: Any, tables: Any) -> float:
    """Best of three of a reader's scan over every identities row."""
    times = []
    for _ in range(3):
        t = time.monotonic()
        engine.query(
            "SELECT count(DISTINCT global_user_id), max(last_seen_at) FROM identities", tables
        )
        times.append(time.monotonic() - t)
    return min(times)


def _int_edges(data: Path) -> tuple[np.ndarray, np.ndarray, int]:
    pairs = pq.read_table(data / "pairs.parquet")
    left = pc.binary_join_element_wise(pairs["left_type"], pairs["left_value"], "\x1f")
    right = pc.binary_join_element_wise(pairs["right_type"], pairs["right_value"], "\x1f")
    both = pa.chunked_array(left.chunks + right.chunks).combine_chunks()
    encoded = pc.dictionary_encode(both)
    idx = encoded.indices.to_numpy().astype(np.int64)
    m = len(pairs)
    return idx[:m], idx[m:], len(encoded.dictionary)


def child_scipy(data: Path, home: Path) -> dict[str, float]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    t = time.monotonic()
    left, right, n = _int_edges(data)
    phases = {"intern strings": time.monotonic() - t}
    t = time.monotonic()
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)).tocsr()
    count, _ = connected_components(graph, directed=False)
    phases["connected components"] = time.monotonic() - t
    phases["people"] = count
    return phases


def child_networkx(data: Path, home: Path) -> dict[str, float]:
    import networkx as nx

    left, right, n = _int_edges(data)
    t = time.monotonic()
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(left.tolist(), right.tolist(), strict=True))
    phases = {"build graph": time.monotonic() - t}
    t = time.monotonic()
    count = sum(1 for _ in nx.connected_components(graph))
    phases["connected components"] = time.monotonic() - t
    phases["people"] = count
    return phases


def _paths(child: Any) -> Any:
    """A child of (data, home) called with the paths as text, as the command line gives them."""
    return lambda data, home: child(Path(data), Path(home))


CHILDREN = {
    "full": child_full,
    "incremental": child_incremental,
    "scipy": child_scipy,
    "networkx": child_networkx,
}


def graph_dir(identifiers: int, seed: int) -> Path:
    return BENCH / ".data" / f"idgraph-n{identifiers}-s{seed}"


def graph_data(identifiers: int, seed: int) -> Path:
    """The cached synthetic graph of `identifiers`, generated first when missing."""
    data = graph_dir(identifiers, seed)
    if not (data / "done").exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating {identifiers:,} identifiers into {data} ...", flush=True)
        t = time.monotonic()
        # in a process of its own: a child's peak RSS on Linux starts from its parent's
        own = ["--identifiers", str(identifiers), "--seed", str(seed), "--generate"]
        subprocess.run([sys.executable, __file__, *own], check=True)
        print(f"generated in {time.monotonic() - t:.0f}s", flush=True)
    return data


def measure(mode: str, data: Path, home: Path) -> dict[str, float]:
    out = run_child(__file__, [mode, str(data), str(home)], label=mode)
    out["peak MiB"] = out.pop("peak_mib")
    del out["name"], out["cpu_seconds"]
    return out


def main() -> None:
    if is_child():
        child_main({mode: _paths(child) for mode, child in CHILDREN.items()})
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--identifiers", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-networkx", action="store_true")
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate:
        generate(args.identifiers, args.seed, graph_dir(args.identifiers, args.seed))
        return
    data = graph_data(args.identifiers, args.seed)
    shape = json.loads((data / "done").read_text())
    links = pq.ParquetFile(data / "pairs.parquet").metadata.num_rows
    new_links = pq.ParquetFile(data / "new_pairs.parquet").metadata.num_rows
    home = data / "home"
    shutil.rmtree(home, ignore_errors=True)
    print(
        f"graph: {shape['identifiers']:,} identifiers, {shape['people']:,} generated people, "
        f"{links:,} links; incremental: {new_links:,} new links; {os.cpu_count()} cores"
    )
    modes = ["full", "incremental", "scipy"] + ([] if args.no_networkx else ["networkx"])
    results = {}
    for mode in modes:
        results[mode] = measure(mode, data, home)
        shown = ", ".join(
            f"{k} {v:,.2f}s" if isinstance(v, float) and k not in ("peak MiB",) else f"{k} {v:,.0f}"
            for k, v in results[mode].items()
            if k != "wall"
        )
        print(f"{mode:12} wall {results[mode]['wall']:6.1f}s | {shown}", flush=True)
    full, inc = results["full"], results["incremental"]
    full_s = full["graph"] + full["lake write"]
    inc_s = inc["load touched people"] + inc["graph"] + inc["lake write"]
    print()
    print(
        f"full build: {full_s:.1f}s (graph {full['graph']:.1f}s + lake write "
        f"{full['lake write']:.1f}s), peak {full['peak MiB']:,.0f} MiB; target < "
        f"{TARGET_FULL_S:.0f}s and < {TARGET_FULL_MIB:,} MiB: "
        f"{'PASS' if full_s < TARGET_FULL_S and full['peak MiB'] < TARGET_FULL_MIB else 'FAIL'}"
    )
    print(
        f"incremental 1%: {inc_s:.1f}s (load {inc['load touched people']:.1f}s + graph "
        f"{inc['graph']:.1f}s + lake write {inc['lake write']:.1f}s); target < "
        f"{TARGET_INCREMENTAL_S:.0f}s: {'PASS' if inc_s < TARGET_INCREMENTAL_S else 'FAIL'}"
    )
    print(
        f"a run with that delta in place: load {inc['again: load']:.1f}s + graph "
        f"{inc['again: graph']:.1f}s (the same links again: nothing new to write)"
    )
    print(
        f"the delta: a reader's scan of identities {inc['read with delta']:.2f}s with it, "
        f"{inc['read base only']:.2f}s without; folding it into the base "
        f"{inc['fold into base']:.1f}s (the run that passes its share of the base)"
    )
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
