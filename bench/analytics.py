"""Benchmark the analytics jobs (dbt on DuckDB): a full build, an hourly incremental run after it,
and a bare DuckDB sessionization as the baseline.

Run from the project root:

    .venv/bin/python bench/analytics.py [--visitors 770000] [--repeat 3] [--keep]

A month of shop traffic from cdpflow.sample's traffic model (its plan, behaviour and people,
vectorized in cdpflow.sample.columnar*: Segment web and iOS visitors, no Blotout) is generated
once into bench/.data/analytics-v<visitors>-s<seed>/ (Parquet written straight from
numpy/pyarrow through DuckDB, no raw JSON) and reused: core_events (one compacted file per
event_date, the column types of CORE_EVENTS_COLUMNS), identities (every device's anonymous_id,
and the user_id and email of every customer who identified) and an empty identity_merges; plus
1% more events for the incremental run (sessions of returning and first-time visitors in the
hour after the data, and late sessions of the week before received in it). Each run starts from
a fresh CDPFLOW_HOME under bench/.data/ (removed afterwards unless --keep) whose lake holds hard
links to the cached files, with snapshots committed through TableStore. Then:

1. full build: events_unified_view, attribution, campaign, retention, each in its own subprocess,
   which reports dbt's seconds per model and its own peak RSS per model (VmHWM, reset through
   /proc/self/clear_refs after each node: a node's figure covers the time since the node before
   it ended, so the first one includes the job's setup and dbt's parse; "publish" is the lake
   write after the last node);
2. baseline: one DuckDB window query that sessionizes the same core_events (lag over the device
   ordered by time, 30-minute gap, running sum) into a table, with the warehouse's memory limit
   and threads;
3. incremental: the new events are committed as new core_events files (mostly the hour after the
   data, some late ones in earlier days, returning and new devices) with their identities as a
   new identities version; the home is copied, then the four jobs run again twice from that same
   state: as four processes (a `cdpflow run` per job) and as one
   `cdpflow run events_unified_view attribution campaign retention` (one process, one dbt build;
   the copy's dbt parse state is warmed first, untimed, as a deployment's always is), `--repeat`
   times (3 by default), each from its own copy of the same state; the median run is the figure.

Engine settings come from the usual env vars (CDPFLOW_ANALYTICS_MEMORY_BYTES,
CDPFLOW_ENGINE_THREADS, ...).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from harness import child_main, is_child, median_run, own_peak_mib, reset_peak, run_child, verdict

from cdpflow.engine.duckdb_scan import duckdb_type
from cdpflow.events.schema import CORE_EVENTS_COLUMNS
from cdpflow.identity.schema import IDENTITIES, IDENTITY_MERGES
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import DataFile, TableStore
from cdpflow.lake.types import schema_columns
from cdpflow.sample import SampleSpec
from cdpflow.sample.columnar import ORDER, draw_sessions, hex_strings
from cdpflow.sample.columnar_rows import core_events_rows
from cdpflow.sample.columnar_segment import ACTION, IDENTIFY, Events, segment_events
from cdpflow.sample.plan import DAY_MS, HOUR_MS, Plan, build_plan, follow_on

BENCH = Path(__file__).resolve().parent
END = datetime(2026, 11, 24, tzinfo=UTC)  # the base data ends here; the new hour follows it
END_MS = int(END.timestamp()) * 1000
DAYS = 30
TS = pa.timestamp("ms", tz="UTC")
JOBS = ("events_unified_view", "attribution", "campaign", "retention")
TARGET_FULL_S, TARGET_FULL_MIB, TARGET_INCREMENTAL_S = 120.0, 6 * 1024, 20.0
MiB = 1 << 20

# The increment: INCREMENT_SHARE of the base's events, as returning visitors' sessions in the
# new hour, first-time visitors' sessions in it, and late events (whole sessions of the 7 days
# before, received in the new hour: an app's queue or a browser that was offline).
INCREMENT_SHARE = 0.01
NEW_HOUR, NEW_VISITORS, LATE = 0.45, 0.40, 0.15
MAX_MS = np.iinfo(np.int64).max
VISITORS = 770_000  # about 10 M events in DAYS


# -- the synthetic lake: cdpflow.sample's traffic model, vectorized ------------------------------


def generate(visitors: int, seed: int, out: Path) -> dict[str, Any]:
    """Write the base lake files and the increment's under `out`; returns the manifest."""
    spec = SampleSpec(days=DAYS, visitors=visitors, seed=seed, end=END, blotout_share=0.0)
    plan = build_plan(spec)
    base = segment_events(draw_sessions(plan))
    rng = np.random.default_rng([seed, 99])
    target = len(base.page) * INCREMENT_SHARE
    per_session = len(base.page) / plan.n_sessions
    recent = (plan.start_ms >= END_MS - 7 * DAY_MS) & (plan.start_ms < END_MS - HOUR_MS)
    recent = rng.permutation(np.flatnonzero(recent))
    sizes = np.bincount(base.session, minlength=plan.n_sessions)[recent]
    late_sessions = np.zeros(plan.n_sessions, bool)
    late_sessions[recent[: int(np.searchsorted(np.cumsum(sizes), LATE * target)) + 1]] = True
    late = late_sessions[base.session]
    follow = follow_on(
        plan, END_MS, END_MS + HOUR_MS, round(NEW_HOUR * target / per_session),
        round(NEW_VISITORS * target / per_session),
    )  # fmt: skip
    new = segment_events(draw_sessions(follow))

    n_people = len(follow.customer_no)
    identified = np.zeros(2 * n_people, bool)  # a device that logs in or buys, in base or increment
    for p in (plan, follow):
        np.logical_or.at(identified, 2 * p.person.astype(np.int64) + p.device, p.converts | p.login)
    gu_person = hex_strings(rng, n_people, 16)
    gu_device = np.where(identified, np.repeat(gu_person, 2), hex_strings(rng, 2 * n_people, 16))
    ids = _Ids(follow, gu_person, gu_device)

    files = {"core_events": _write_events(base, np.flatnonzero(~late), "", out / "base")}
    ids.see(base, ~late)
    base_ids = ids.rows()
    files["identities"] = [_write_identities(base_ids, out / "base")]
    stats = {
        "visitors": visitors,
        "events": int((~late).sum()),
        "sessions": int((~late_sessions).sum()),
        "devices": int(ids.seen.sum()),
        "customers identified": int(ids.known.sum()),
        "orders": int(
            ((base.slot == ACTION) & (base.sessions.action[base.page] == ORDER))[~late].sum()
        ),
        "events of iOS apps": int(base.ios[base.session][~late].sum()),
        "landings with utm_source": int((base.sessions.tags["utm_source"] != None).sum()),  # noqa: E711
        "identities": base_ids.num_rows,
    }

    # the late sessions arrive in the new hour: their receive and send times move there
    first = np.full(plan.n_sessions, MAX_MS)
    np.minimum.at(first, base.session[late], base.received[late])
    shift = END_MS + rng.integers(0, HOUR_MS, plan.n_sessions) - first
    base.received[late] += shift[base.session[late]]
    base.sent[late] += shift[base.session[late]]
    hour_key = f"{END:%Y-%m-%dT%H}"
    increment = _write_events(base, np.flatnonzero(late), hour_key, out / "increment")
    increment += _write_events(new, np.arange(len(new.page)), hour_key, out / "increment")
    seen_before, known_before = ids.seen.copy(), ids.known.copy()
    ids.see(base, late)
    ids.see(new, np.ones(len(new.page), bool))
    added = ids.rows(devices=ids.seen & ~seen_before, people=ids.known & ~known_before)
    files_inc = {
        "core_events": increment,
        "identities": [_write_identities(added, out / "increment")],
    }
    returning = np.unique(follow.person[follow.person < len(plan.customer_no)])
    stats["increment"] = {
        "events": int(late.sum()) + len(new.page),
        "in the new hour": len(new.page),
        "late (earlier days)": int(late.sum()),
        "returning visitors": len(returning),
        "first-time visitors": int((follow.person >= len(plan.customer_no)).sum()),
        "orders": int(((new.slot == ACTION) & (new.sessions.action[new.page] == ORDER)).sum()),
        "identities added": added.num_rows,
    }
    return {
        "base": {t: [asdict(f) for f in fs] for t, fs in files.items()},
        "increment": {t: [asdict(f) for f in fs] for t, fs in files_inc.items()},
        "stats": stats,
    }


class _Ids:
    """What id_stitching would hold for the events seen so far: every device's anonymous_id
    (its person's global_user_id once it logs in or buys anywhere in the data, else its own),
    and the user_id and email of every customer who identified, with first and last seen."""

    def __init__(self, plan: Plan, gu_person: np.ndarray, gu_device: np.ndarray) -> None:
        n = len(plan.customer_no)
        self.plan, self.gu_person, self.gu_device = plan, gu_person, gu_device
        self.anon = np.full(2 * n, None, object)
        self.first, self.last = np.full(2 * n, MAX_MS), np.zeros(2 * n, np.int64)
        self.seen, self.known = np.zeros(2 * n, bool), np.zeros(n, bool)
        self.user_id, self.email = np.full(n, None, object), np.full(n, None, object)

    def see(self, ev: Events, rows: np.ndarray) -> None:
        keys = 2 * np.repeat(ev.people, 2) + np.tile([0, 1], len(ev.people))
        self.anon[keys] = ev.devices["anonymous_id"].to_numpy(zero_copy_only=False)
        key = keys[ev.device_row[ev.session[rows]]]
        np.minimum.at(self.first, key, ev.event_time[rows])
        np.maximum.at(self.last, key, ev.event_time[rows])
        self.seen[key] = True
        person = key[ev.slot[rows] == IDENTIFY] // 2
        self.known[person] = True
        number = self.plan.customer_no[person]
        self.user_id[person] = ev.customers["user_id"].to_numpy(zero_copy_only=False)[number]
        self.email[person] = ev.customers["email"].to_numpy(zero_copy_only=False)[number]

    def rows(self, devices: np.ndarray | None = None, people: np.ndarray | None = None) -> pa.Table:
        devices = np.flatnonzero(self.seen if devices is None else devices)
        people = np.flatnonzero(self.known if people is None else people)
        p_first = np.minimum(self.first[2 * people], self.first[2 * people + 1])
        p_last = np.maximum(self.last[2 * people], self.last[2 * people + 1])
        app = self.plan.ios_app[devices // 2] & (devices % 2 == 0)
        n, m = len(devices), len(people)
        return pa.table(
            {
                "identifier_type": pa.array(["anonymous_id"] * n + ["user_id"] * m + ["email"] * m),
                "identifier_value": pa.array(
                    np.r_[self.anon[devices], self.user_id[people], self.email[people]].tolist()
                ),
                "global_user_id": pa.array(
                    [
                        "gu_" + g
                        for g in np.r_[
                            self.gu_device[devices], self.gu_person[people], self.gu_person[people]
                        ]
                    ]
                ),
                "first_seen_at": pa.array(np.r_[self.first[devices], p_first, p_first], TS),
                "last_seen_at": pa.array(np.r_[self.last[devices], p_last, p_last], TS),
                "source": pa.array(
                    np.r_[np.where(app, "events:ios", "events:web"), ["events:web"] * 2 * m]
                ),
                "held_out": pa.array(np.zeros(n + 2 * m, bool)),
            },
            schema=IDENTITIES,
        )


def _write_events(ev: Events, rows: np.ndarray, owner: str, out: Path) -> list[DataFile]:
    """`rows` of `ev` as one zstd Parquet file per event_date, in time order, written by DuckDB
    with the types of CORE_EVENTS_COLUMNS."""
    rows = rows[np.argsort(ev.event_time[rows], kind="stable")]
    days = ev.event_time[rows] // DAY_MS
    bounds = np.r_[0, np.flatnonzero(np.diff(days)) + 1, len(rows)]
    con = duckdb.connect(config={"threads": os.cpu_count() or 1})
    casts = ", ".join(
        f'CAST("{c}" AS {duckdb_type(kind)}) AS "{c}"' for c, kind in CORE_EVENTS_COLUMNS
    )
    files = []
    try:
        for lo, hi in itertools.pairwise(bounds):
            table = core_events_rows(ev, rows[lo:hi])
            day = f"{datetime.fromtimestamp(int(days[lo]) * 86400, UTC):%Y-%m-%d}"
            rel = f"event_date={day}/part-{uuid.uuid4().hex[:12]}.parquet"
            path = out / "core_events" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            con.register("generated", table)
            con.execute(
                f"COPY (SELECT {casts} FROM generated) TO '{path}' "
                "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
            )
            con.unregister("generated")
            day_owner = owner or ",".join(f"{day}T{h:02d}" for h in range(24))
            size = path.stat().st_size
            files.append(DataFile(rel, int(hi - lo), size, day_owner, {"event_date": day}))
    finally:
        con.close()
    return files


def _write_identities(rows: pa.Table, out: Path) -> DataFile:
    rel = f"part-{uuid.uuid4().hex}.parquet"
    path = out / "identities" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, path, compression="zstd")
    return DataFile(rel, rows.num_rows, path.stat().st_size, owner="id_stitching_incremental")


def dataset(visitors: int, seed: int) -> tuple[Path, dict[str, Any]]:
    """The cached lake files, generated first if missing: in a child process, so that this
    one stays small (a child forked from a parent holding the generator's 4 GB reported that as
    its own peak RSS)."""
    data = BENCH / ".data" / f"analytics-v{visitors}-s{seed}"
    manifest_path = data / "manifest.json"
    if not manifest_path.exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating the traffic of {visitors:,} visitors into {data} ...", flush=True)
        r = run_child(__file__, ["generate", str(visitors), str(seed), str(data)], label="generate")
        print(
            f"generated in {r['wall']:.0f}s (CPU {r['cpu_seconds']:.0f}s, "
            f"peak {r['peak_mib']:,.0f} MiB)",
            flush=True,
        )
    return data, json.loads(manifest_path.read_text())


def child_generate(visitors: str, seed: str, out: str) -> dict[str, Any]:
    manifest = generate(int(visitors), int(seed), Path(out))
    (Path(out) / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return {"events": manifest["stats"]["events"]}


def publish(data: Path, home: Path, part: str, files: dict[str, list[dict]]) -> None:
    """Hard-link a part's files into the home's lake and commit them as new table versions."""
    lake = Lake(str(home / "lake"))
    tables = TableStore(lake)
    columns = {"core_events": CORE_EVENTS_COLUMNS, "identities": schema_columns(IDENTITIES)}
    for table, listed in files.items():
        added = [DataFile(**f) for f in listed]
        for f in added:
            target = home / "lake" / table / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(data / part / table / f.path, target)
        tables.commit(
            table,
            tables.current(table),
            operation=f"bench:{part}",
            add=added,
            columns=columns[table],
        )
    if tables.current("identity_merges") is None:
        tables.commit(
            "identity_merges", None, operation="bench", columns=schema_columns(IDENTITY_MERGES)
        )


# -- measured children -------------------------------------------------------------------------


def child_job(job: str, home: str) -> dict[str, Any]:
    """Run one analytics job; dbt's seconds and the peak RSS of each node."""
    from cdpflow.settings import load_settings

    peaks: dict[str, float] = {}
    ends: dict[str, float] = {}  # seconds from the start of the run to the end of each node
    started = time.monotonic()

    def mark(label: str) -> None:
        peaks[label] = max(peaks.get(label, 0.0), own_peak_mib())
        ends[label] = time.monotonic() - started
        reset_peak()

    class OnNode(logging.Handler):  # build() logs "<kind> <name>: <status> in <s>" per node
        def emit(self, record: logging.LogRecord) -> None:
            args = record.args
            if isinstance(args, tuple) and len(args) >= 2:
                mark(f"{args[0]} {args[1]}")

    logger = logging.getLogger("cdpflow.jobs.analytics")
    logger.setLevel(logging.INFO)
    logger.addHandler(OnNode())
    settings = load_settings(home=home)
    if "+" in job:  # several jobs in one `cdpflow run`: one build
        from cdpflow.jobs.analytics import build

        def run_it() -> Any:
            return build(settings, job.split("+"))
    else:
        run_it = partial(importlib.import_module(f"cdpflow.jobs.{job}").run, settings)
    mark("startup")
    started = time.monotonic()
    result = run_it()
    seconds = time.monotonic() - started
    mark("publish")
    return {
        "run": seconds,
        "build": result.seconds,
        "nodes": [[n.name, n.kind, n.status, n.seconds] for n in result.models + result.tests],
        "pending": result.pending_files,
        "published": result.published,
        "peaks": peaks,
        "ends": ends,
        "peak_mib": max(peaks.values()),
    }


def child_baseline(home: str) -> dict[str, Any]:
    """The same events sessionized by one bare window query, into a table."""
    from cdpflow.settings import load_settings

    settings = load_settings(home=home)
    tables = TableStore(Lake(settings.lake_url))
    listed = ", ".join(f"'{u}'" for u in tables.file_uris(tables.get("core_events")))
    spill = settings.work_dir / "baseline_spill"
    spill.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "threads": settings.engine_threads,
            "memory_limit": f"{settings.analytics_memory_bytes // 1_000_000}MB",
            "temp_directory": str(spill),
        }
    )
    reset_peak()
    started = time.monotonic()
    con.execute(
        f"""CREATE TABLE sessionized AS
            WITH events AS (
                SELECT event_id, coalesce(anonymous_id, 'user:' || user_id) AS device_id, event_time
                FROM read_parquet([{listed}])
                WHERE event_type IN ('page', 'screen', 'track')
            ),
            starts AS (
                SELECT *, CASE WHEN event_time - lag(event_time) OVER w <= INTERVAL 30 MINUTE
                               THEN 0 ELSE 1 END AS is_start
                FROM events WINDOW w AS (PARTITION BY device_id ORDER BY event_time, event_id)
            )
            SELECT event_id, device_id, event_time,
                   sum(is_start) OVER (PARTITION BY device_id ORDER BY event_time, event_id
                                       ROWS UNBOUNDED PRECEDING) AS session_number
            FROM starts"""
    )
    seconds = time.monotonic() - started
    peak = own_peak_mib()
    row = con.execute(
        "SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT device_id, session_number "
        "FROM sessionized)) FROM sessionized"
    ).fetchone()
    assert row is not None
    return {"run": seconds, "rows": row[0], "sessions": row[1], "peak_mib": peak}


def child_warm(home: str) -> dict[str, Any]:
    """`dbt parse` in a copied home (untimed): its profile names the copy's warehouse, so dbt
    would otherwise parse the project from scratch once, which a deployment never pays hourly."""
    from dbt.cli.main import dbtRunner

    from cdpflow.dbt.models import PROJECT_DIR
    from cdpflow.dbt.runner import dbt_vars, write_profile
    from cdpflow.engine import open_warehouse
    from cdpflow.jobs.analytics import warehouse_path
    from cdpflow.settings import load_settings

    settings = load_settings(home=home)
    path = warehouse_path(settings)
    warehouse = open_warehouse(settings, Lake(settings.lake_url), path)
    profile = warehouse.dbt_profile()
    warehouse.close()
    work = write_profile(path.parent, profile)
    args = ["parse", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(work)]
    args += ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    args += ["--vars", json.dumps(dbt_vars(settings))]
    ok = dbtRunner().invoke(args).success
    return {"parsed": ok}


CHILDREN = {
    "generate": child_generate,
    "job": child_job,
    "baseline": child_baseline,
    "warm": child_warm,
}


def measure(args: list[str], home: Path) -> dict[str, Any]:
    """This script in child mode on `home`; its result plus its wall seconds (Python start,
    imports and all) and peak memory."""
    return run_child(__file__, [*args, str(home)], home=home, label=" ".join(args))


# -- the run -----------------------------------------------------------------------------------


def run_jobs(
    title: str, home: Path, args: argparse.Namespace, jobs: tuple[str, ...] = JOBS
) -> list[tuple[str, dict[str, Any]]]:
    print(f"\n{title}", flush=True)
    results = []
    for job in jobs:
        r = measure(["job", job], home)
        results.append((job, r))
        nodes = r["nodes"]
        models = [n for n in nodes if n[1] == "model"]
        tests = [n for n in nodes if n[1] != "model"]
        print(
            f"{job}: wall {r['wall']:.1f}s, CPU {r['cpu_seconds']:.1f}s (run {r['run']:.1f}s, "
            "dbt models "
            f"{sum(n[3] for n in models):.1f}s, tests {sum(n[3] for n in tests):.1f}s), "
            f"peak {r['peak_mib']:,.0f} MiB, {r['pending']} new core_events file(s)",
            flush=True,
        )
        peaks, ends = r["peaks"], r["ends"]
        first = f"{nodes[0][1]} {nodes[0][0]}"
        last = f"{nodes[-1][1]} {nodes[-1][0]}"
        rows = [
            ("process start, imports", r["wall"] - r["run"], peaks["startup"]),
            ("setup, dbt start and parse", ends[first] - ends["startup"] - nodes[0][3], None),
        ]
        for name, kind, _status, seconds in nodes:
            peak = peaks.get(f"{kind} {name}", float("nan"))
            if kind == "model" or args.tests:
                rows.append((name if kind == "model" else f"{kind} {name}"[:60], seconds, peak))
        if tests and not args.tests:
            peak = max(peaks.get(f"{n[1]} {n[0]}", 0.0) for n in tests)
            rows.append((f"{len(tests)} tests", sum(n[3] for n in tests), peak))
        rows.append(("publish to the lake", ends["publish"] - ends[last], peaks["publish"]))
        print(f"  {'step':<60} {'seconds':>8} {'peak MiB':>9}")
        for label, seconds, peak in rows:
            shown = "" if peak is None else f"{peak:,.0f}"
            print(f"  {label:<60} {seconds:>8.2f} {shown:>9}")
        for mart, (count, files) in r["published"].items():
            print(f"  published {mart}: {count:,} rows, {files} file(s) written")
    total = sum(r["wall"] for _, r in results)
    cpu = sum(r["cpu_seconds"] for _, r in results)
    print(
        f"total wall {total:.1f}s, CPU {cpu:.1f}s, "
        f"peak {max(r['peak_mib'] for _, r in results):,.0f} MiB "
        f"(load average now {os.getloadavg()[0]:.2f}: other work on the machine skews the figures)"
    )
    return results


def main() -> None:
    if is_child():
        child_main(CHILDREN)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=VISITORS, help="about 10 M events")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the run's CDPFLOW_HOME")
    parser.add_argument("--tests", action="store_true", help="list every dbt test's figures")
    parser.add_argument(
        "--repeat", type=int, default=3, help="one-command increments (each from the same state)"
    )
    args = parser.parse_args()

    data, manifest = dataset(args.visitors, args.seed)
    stats = manifest["stats"]
    increment = stats.pop("increment")
    print("data: " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
    print("increment: " + ", ".join(f"{k} {v:,}" for k, v in increment.items()))
    (BENCH / ".data").mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="analytics-home-", dir=BENCH / ".data"))
    try:
        publish(data, home, "base", manifest["base"])
        full = run_jobs(f"full build: {os.cpu_count()} cores, home {home}", home, args)
        print("\nbaseline: bare DuckDB window query sessionizing core_events", flush=True)
        base = measure(["baseline"], home)
        print(
            f"baseline: query {base['run']:.1f}s (wall {base['wall']:.1f}s), {base['rows']:,} "
            f"rows, {base['sessions']:,} sessions, peak {base['peak_mib']:,.0f} MiB"
        )
        publish(data, home, "increment", manifest["increment"])
        # the same hourly run from the same state: a process per job (a `cdpflow run` each),
        # then as one `cdpflow run` of the four jobs (one process, one dbt build),
        # --repeat times; each run gets a fresh copy made just before it (copies made up front
        # competed for the page cache: each later run was slower)
        pristine = Path(f"{home}-pristine")
        subprocess.run(["cp", "-a", str(home), str(pristine)], check=True)
        inc = run_jobs(f"incremental: {increment['events']:,} new events, 4 processes", home, args)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)  # out of the page cache
        ones = []
        for n in range(max(1, args.repeat)):
            chained = Path(f"{home}-chain{n}")
            subprocess.run(["cp", "-a", str(pristine), str(chained)], check=True)
            measure(["warm"], chained)
            title = f"incremental: the same, one `cdpflow run {' '.join(JOBS)}` (run {n + 1})"
            ones.append(run_jobs(title, chained, args, jobs=("+".join(JOBS),)))
            if not args.keep:
                shutil.rmtree(chained, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(f"{home}-pristine", ignore_errors=True)
            for n in range(max(1, args.repeat)):
                shutil.rmtree(f"{home}-chain{n}", ignore_errors=True)

    def wall(results: list[tuple[str, dict[str, Any]]]) -> float:
        return sum(r["wall"] for _, r in results)

    def cpu(results: list[tuple[str, dict[str, Any]]]) -> float:
        return sum(r["cpu_seconds"] for _, r in results)

    full_s = wall(full)
    full_mib = max(r["peak_mib"] for _, r in full)
    one = median_run([{"results": r, "wall": wall(r)} for r in ones], key=lambda r: r["wall"])
    one = one["results"]
    walls = sorted(wall(results) for results in ones)
    n_inc = increment["events"]
    print(f"\nsummary ({stats['events']:,} events, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f})")  # fmt: skip
    print(f"full build, 4 jobs: wall {full_s:.1f} s, CPU {cpu(full):.1f} s")
    print(
        f"incremental ({n_inc:,} events), 4 processes: wall {wall(inc):.1f} s, CPU {cpu(inc):.1f} s"
    )
    print(
        f"incremental, one command: median wall {wall(one):.1f} s, CPU {cpu(one):.1f} s "
        f"(every run: {', '.join(f'{w:.1f}' for w in walls)} s)"
    )
    for line in (
        verdict("full build, 4 jobs, wall", full_s, TARGET_FULL_S, "s", at_most=True),
        verdict("full build, peak RSS of any job", full_mib, TARGET_FULL_MIB, "MiB", at_most=True),
        verdict("incremental, 4 processes", wall(inc), TARGET_INCREMENTAL_S, "s", at_most=True),
        verdict(
            "incremental, one command, median", wall(one), TARGET_INCREMENTAL_S, "s", at_most=True
        ),
        verdict(
            "incremental, one command, slowest", walls[-1], TARGET_INCREMENTAL_S, "s", at_most=True
        ),
    ):
        print(line)
    print(f"{'baseline window query (reference)':<44} {'':>12} {base['run']:>10.1f} s")
    for title, results in (("full", full), ("incremental", inc), ("one command", one)):
        print(f"  {title}: " + ", ".join(f"{job} {r['wall']:.1f}s" for job, r in results))
    models = sorted(
        ((n[3], job, n[0]) for job, r in full for n in r["nodes"] if n[1] == "model"), reverse=True
    )
    print("slowest models of the full build:")
    for seconds, job, name in models[:4]:
        print(f"  {name} ({job}): {seconds:.1f}s = {seconds / full_s:.0%} of the full build")
    sessionize = next((m[0] for m in models if m[2] == "int_events_sessionized"), None)
    if sessionize is not None:
        print(
            f"int_events_sessionized {sessionize:.1f}s vs the bare window query "
            f"{base['run']:.1f}s: {sessionize / base['run']:.1f}x"
        )


if __name__ == "__main__":
    main()
