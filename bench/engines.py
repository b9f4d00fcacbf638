"""Both batch engines on the same input, in one run: events_incremental and the identity graph
on CDPFLOW_ENGINE=duckdb and CDPFLOW_ENGINE=spark, at several sizes and core counts.

Run from the project root:

    .venv/bin/python bench/engines.py [--sizes 500000,1000000,2000000] [--cores 1,2]
        [--identifiers 10000000] [--only events|identity] [--quick]

events_incremental reads the first hours of the events_incremental benchmark's cached sample
(bench/events_incremental.py `dataset`, 200,000 visitors over 30 days) up to about each size;
the identity graph is id_stitching's full build (bench/id_stitching.py `child_full`) on its
cached synthetic graph. Each measurement is a fresh process (bench/harness.py `run_child`);
`--cores N` gives the job N cores on either engine: `CDPFLOW_ENGINE_THREADS=N` (DuckDB's threads
and worker processes, also those of the DuckDB work the Spark engine still delegates) and
`CDPFLOW_SPARK_MASTER=local[N]`. A Spark run first starts its SparkSession and runs a trivial
job, timed apart (JVM start), so the job's own seconds exclude it; its wall seconds include
everything. Memory: the Python driver's own peak RSS, the peak of its JVM child (in local mode
Spark's driver and executors are that one JVM), the peak of its other child processes (DuckDB's
worker processes), and the whole process tree's. Every run records the 1-minute load average
before and after it, as the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import id_stitching
from events_incremental import RAW, dataset, link_raw, run_engine
from harness import (
    MiB,
    child_env,
    child_main,
    children,
    is_child,
    own_peak_mib,
    run_child,
    tree_rss,
)

BENCH = Path(__file__).resolve().parent
ENGINES = ("duckdb", "spark")
SAMPLE = (200_000, 30, 42)  # visitors, days, seed: events_incremental's default sample
RAW_BYTES_PER_EVENT = 844  # that sample: 2,414 MB of raw JSON for 2,859,797 events
GRAPH_SEED = 1  # id_stitching's default
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUICK = {"sizes": [100_000], "cores": [1], "identifiers": [100_000]}


# -- measured children ---------------------------------------------------------------------


class ChildPeaks:
    """Peak RSS of this process's JVM child (with its own children) and of its other child
    processes, sampled every 50 ms while in the `with` block, and the JVM's CPU seconds (as last
    sampled: the JVM outlives the Python process, which never waits for it, so the harness's
    CPU seconds leave it out)."""

    def __init__(self) -> None:
        self.jvm = 0
        self.workers = 0
        self.tree = 0  # the whole tree, this process included: the harness's own sampler,
        # in a parent that gets less CPU on a busy machine, can miss the JVM's peak
        self.jvm_cpu: dict[int, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            jvm = workers = 0
            for pid in children(os.getpid()):
                try:
                    is_jvm = Path(f"/proc/{pid}/comm").read_text().strip() == "java"
                    if is_jvm:
                        ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                        self.jvm_cpu[pid] = (int(ticks[11]) + int(ticks[12])) / CLOCK_TICKS
                except OSError:
                    continue
                rss = tree_rss(pid)
                jvm, workers = (jvm + rss, workers) if is_jvm else (jvm, workers + rss)
            self.jvm, self.workers = max(self.jvm, jvm), max(self.workers, workers)
            self.tree = max(self.tree, tree_rss(os.getpid()))

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def jvm_cpu_s(self) -> float:
        return sum(self.jvm_cpu.values())

    def result(self) -> dict[str, float]:
        return {
            "driver_mib": own_peak_mib(),
            "jvm_mib": self.jvm / MiB,
            "workers_mib": self.workers / MiB,
            "jvm_cpu_s": self.jvm_cpu_s(),
            "peak_mib": self.tree / MiB,  # run_child keeps the largest of its peaks
        }


def start_spark(home: Path, peaks: ChildPeaks) -> dict[str, float]:
    """Start the process's SparkSession (the JVM) and run a trivial job, timing each, with the
    JVM's CPU seconds so far; the job measured next reuses that session."""
    from cdpflow.engine.spark_engine import spark_session
    from cdpflow.settings import load_settings

    t = time.monotonic()
    session = spark_session(load_settings(home=home))
    started = time.monotonic() - t
    t = time.monotonic()
    session.range(1000).count()
    first_job = time.monotonic() - t
    time.sleep(0.1)  # a fresh sample of the JVM's CPU time
    return {"jvm_start_s": started, "first_job_s": first_job, "jvm_start_cpu_s": peaks.jvm_cpu_s()}


def child_events(home: str) -> dict[str, Any]:
    with ChildPeaks() as peaks:
        out = start_spark(Path(home), peaks) if os.environ["CDPFLOW_ENGINE"] == "spark" else {}
        t = time.monotonic()
        out.update(run_engine(home))
        out["job_s"] = time.monotonic() - t
    return {**out, **peaks.result()}


def child_identity(data: str, home: str) -> dict[str, Any]:
    with ChildPeaks() as peaks:
        out: dict[str, Any] = {}
        if os.environ["CDPFLOW_ENGINE"] == "spark":
            out = start_spark(Path(home), peaks)
        t = time.monotonic()
        out.update(id_stitching.child_full(Path(data), Path(home)))
        out["job_s"] = time.monotonic() - t
    return {**out, **peaks.result()}


CHILDREN = {"events": child_events, "identity": child_identity}


# -- the parent ----------------------------------------------------------------------------


def engine_env(engine: str, cores: int) -> dict[str, str]:
    return child_env(
        CDPFLOW_ENGINE=engine,
        CDPFLOW_ENGINE_THREADS=str(cores),
        CDPFLOW_SPARK_MASTER=f"local[{cores}]",
    )


def measure(args: Sequence[str], env: dict[str, str], label: str, **kw: Any) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    print(f"running {label} (load {load_before:.2f}) ...", flush=True)
    result = run_child(__file__, args, env=env, label=label, **kw)
    result["load"] = (load_before, os.getloadavg()[0])
    result["cpu_s"] = result["cpu_seconds"] + result.get("jvm_cpu_s", 0.0)
    result["job_cpu_s"] = result["cpu_s"] - result.get("jvm_start_cpu_s", 0.0)
    return result


class Record:
    """The results so far, rewritten to a JSON file after every run (a long run interrupted
    still leaves its figures; `--report FILE` prints them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.results: dict[str, list[dict[str, Any]]] = {"events": [], "identity": []}

    def add(self, kind: str, result: dict[str, Any]) -> None:
        self.results[kind].append(result)
        self.path.write_text(json.dumps(self.results, default=str, indent=1))


def first_hours(manifest: dict[str, list[int]], events: int) -> list[str]:
    """The files of the first whole raw hours holding about `events` events (by raw bytes)."""
    by_hour: dict[str, list[str]] = {}
    for path in sorted(manifest):
        by_hour.setdefault(path.rsplit("/", 1)[0], []).append(path)
    chosen: list[str] = []
    raw = 0
    for files in by_hour.values():
        if raw >= events * RAW_BYTES_PER_EVENT:
            break
        chosen += files
        raw += sum(manifest[f][1] for f in files)
    return chosen


def bench_events(
    sizes: Sequence[int], cores: Sequence[int], engines: Sequence[str], record: Record
) -> None:
    data, manifest = dataset(*SAMPLE)
    runs_dir = data / f"engine-runs-{os.getpid()}"  # concurrent invocations stay apart
    try:
        for size in sizes:
            files = first_hours(manifest, size)
            for n in cores:
                for engine in engines:
                    home = runs_dir / f"{engine}-{n}-{size}"
                    link_raw(data, home, files)
                    label = f"events {size:,} {engine} {n} core(s)"
                    env = engine_env(engine, n)
                    result = measure(["events", str(home)], env, label, home=home)
                    result.update(engine=engine, cores=n, size=size, files=len(files))
                    print(f"  {result['summary']}", flush=True)
                    record.add("events", result)
                    shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)


def bench_identity(
    sizes: Sequence[int], cores: Sequence[int], engines: Sequence[str], record: Record
) -> None:
    for identifiers in sizes:
        data = id_stitching.graph_data(identifiers, GRAPH_SEED)
        for n in cores:
            for engine in engines:
                home = data / f"engine-home-{engine}-{n}"
                shutil.rmtree(home, ignore_errors=True)
                label = f"identity {identifiers:,} {engine} {n} core(s)"
                try:
                    env = engine_env(engine, n)
                    result = measure(["identity", str(data), str(home)], env, label)
                finally:
                    shutil.rmtree(home, ignore_errors=True)
                result.update(engine=engine, cores=n, identifiers=identifiers)
                print(
                    f"  graph {result['graph']:.1f}s, lake write {result['lake write']:.1f}s, "
                    f"people {result['people']:,.0f}",
                    flush=True,
                )
                record.add("identity", result)


def _jvm(r: dict[str, Any]) -> str:
    return f"{r['jvm_start_s']:.1f}+{r['first_job_s']:.1f}" if "jvm_start_s" in r else "-"


def _job_cpu(r: dict[str, Any]) -> float:
    """CPU seconds of the run without the JVM's start (Python's start is in both engines)."""
    return float(r.get("job_cpu_s", r.get("cpu_s", r["cpu_seconds"])))


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least squares `seconds = fixed + per_item * items` over (items, seconds)."""
    if len(points) < 2:
        items, seconds = points[0]
        return 0.0, seconds / items
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my - slope * mx, slope


Column = tuple[str, int, Callable[[dict[str, Any]], str]]  # title, width, cell of a run

# The columns both tables start with, and those they end with: JVM start, memory, CPU, load.
HEAD: list[Column] = [
    ("engine", 7, lambda r: r["engine"]),
    ("cores", 5, lambda r: str(r["cores"])),
]
TAIL: list[Column] = [
    ("JVM s", 9, _jvm),
    ("drv MiB", 7, lambda r: f"{r['driver_mib']:,.0f}"),
    ("JVM MiB", 7, lambda r: f"{r['jvm_mib']:,.0f}"),
    ("wrk MiB", 7, lambda r: f"{r['workers_mib']:,.0f}"),
    ("all MiB", 7, lambda r: f"{r['peak_mib']:,.0f}"),
    ("CPU s", 6, lambda r: f"{r.get('cpu_s', r['cpu_seconds']):.1f}"),
    ("load", 9, lambda r: f"{r['load'][0]:.1f}/{r['load'][1]:.1f}"),
]


def table(columns: Sequence[Column], results: Sequence[dict[str, Any]]) -> list[str]:
    """A header, a rule and a line per run; the first column left-aligned, the others right."""
    cells = [[title for title, _, _ in columns]]
    cells += [[cell(r) for _, _, cell in columns] for r in results]
    lines = [
        " ".join(
            f"{text:<{w}}" if i == 0 else f"{text:>{w}}"
            for i, (text, (_, w, _)) in enumerate(zip(row, columns, strict=True))
        )
        for row in cells
    ]
    return [lines[0], "-" * len(lines[0]), *lines[1:]]


def growth(
    results: Sequence[dict[str, Any]], size: str, seconds: Callable[[dict[str, Any]], float]
) -> list[tuple[str, int, float, float]]:
    """(engine, cores, fixed s, s per item) of `seconds` fitted over each configuration's sizes."""
    out = []
    for engine in ENGINES:
        for n in sorted({r["cores"] for r in results}):
            runs = [r for r in results if r["engine"] == engine and r["cores"] == n]
            if runs:
                out.append((engine, n, *fit([(r[size], seconds(r)) for r in runs])))
    return out


def core_speedups(results: Sequence[dict[str, Any]], size: str, key: str) -> list[str]:
    """`key` seconds at 1 core over those at N cores, per engine and size."""
    lines = []
    for r in results:
        one = [
            o
            for o in results
            if o["cores"] == 1 and o["engine"] == r["engine"] and o[size] == r[size]
        ]
        if r["cores"] > 1 and one:
            lines.append(
                f"  {r['engine']} {r[size]:,}: {r['cores']} cores {one[0][key] / r[key]:.2f}x"
            )
    return lines


def report_events(results: Sequence[dict[str, Any]]) -> list[str]:
    columns: list[Column] = [
        *HEAD,
        ("events", 10, lambda r: f"{r['events']:,}"),
        ("wall s", 7, lambda r: f"{r['wall']:.1f}"),
        ("job s", 7, lambda r: f"{r['job_s']:.1f}"),
        ("events/s", 9, lambda r: f"{r['events'] / r['job_s']:,.0f}"),
        ("ev/s/core", 9, lambda r: f"{r['events'] / r['job_s'] / r['cores']:,.0f}"),
        ("ev/CPU-s", 8, lambda r: f"{r['events'] / _job_cpu(r):,.0f}"),
        *TAIL,
    ]
    lines = table(columns, results)
    lines += ["", "growth (least squares over the sizes: seconds = fixed + per 1M events * M):"]
    cpu = {(e, n): (f, p) for e, n, f, p in growth(results, "events", _job_cpu)}
    for engine, n, fixed, per_event in growth(results, "events", lambda r: r["job_s"]):
        cpu_fixed, cpu_per_event = cpu[engine, n]
        lines.append(
            f"  {engine} {n} core(s): job {fixed:.1f}s + {per_event * 1e6:.1f}s per 1M "
            f"events ({1 / per_event:,.0f} events/s marginal, {1 / per_event / n:,.0f} per "
            f"core); CPU {cpu_fixed:.1f}s + {cpu_per_event * 1e6:.1f}s per 1M events "
            f"({1 / cpu_per_event:,.0f} events per CPU-second)"
        )
    lines += ["", "cores (job s at 1 core / job s at N cores, same engine and events):"]
    return lines + core_speedups(results, "size", "job_s")


def report_identity(results: Sequence[dict[str, Any]]) -> list[str]:
    columns: list[Column] = [
        *HEAD,
        ("identifiers", 11, lambda r: f"{r['identifiers']:,}"),
        ("wall s", 7, lambda r: f"{r['wall']:.1f}"),
        ("graph s", 8, lambda r: f"{r['graph']:.1f}"),
        ("write s", 7, lambda r: f"{r['lake write']:.1f}"),
        ("people", 10, lambda r: f"{r['people']:,.0f}"),
        *TAIL,
    ]
    lines = table(columns, results)
    for identifiers in sorted({r["identifiers"] for r in results}):
        people = {r["people"] for r in results if r["identifiers"] == identifiers}
        same = "the same" if len(people) == 1 else f"DIFFERENT: {sorted(people)}"
        lines.append(f"{identifiers:,} identifiers: people on every run {same}")
    lines += ["", "growth of graph s (least squares over the sizes):"]
    for engine, n, fixed, per_item in growth(results, "identifiers", lambda r: r["graph"]):
        lines.append(
            f"  {engine} {n} core(s): {fixed:.1f}s + {per_item * 1e6:.1f}s per 1M identifiers "
            f"({1 / per_item / n:,.0f} identifiers/s per core, marginal)"
        )
    lines += ["", "cores (graph s at 1 core / graph s at N cores, same engine and identifiers):"]
    return lines + core_speedups(results, "identifiers", "graph")


def parse_sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def main() -> None:
    if is_child():
        child_main(CHILDREN)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[500_000, 1_000_000, 2_000_000])
    parser.add_argument("--cores", type=parse_sizes, default=[1, 2])
    parser.add_argument("--identifiers", type=parse_sizes, default=[10_000_000])
    parser.add_argument("--only", choices=("events", "identity"))
    parser.add_argument("--engines", type=lambda t: t.split(","), default=list(ENGINES))
    parser.add_argument("--quick", action="store_true", help="one small size on 1 core")
    parser.add_argument(
        "--report", type=lambda t: t.split(","), help="print the tables of saved results"
    )
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)

    if args.report:
        runs: dict[str, list[dict[str, Any]]] = {"events": [], "identity": []}
        for path in args.report:
            for kind, results in json.loads(Path(path).read_text()).items():
                runs[kind] += results
        print_report(runs, "", ", ".join(args.report))
        return
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    record = Record(
        BENCH / ".data" / f"engines-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    )
    if args.only != "identity":
        bench_events(args.sizes, args.cores, args.engines, record)
    if args.only != "events":
        bench_identity(args.identifiers, args.cores, args.engines, record)
    print_report(record.results, f"started {started}, ", str(record.path.relative_to(BENCH.parent)))


def print_report(runs: dict[str, list[dict[str, Any]]], started: str, where: str) -> None:
    print()
    print(
        f"{started}{os.cpu_count()} cores; load is the 1-minute average before/after each run; "
        "JVM s = SparkSession start + a trivial job; job s excludes them; all MiB = the whole "
        "process tree; CPU s includes the JVM's; CDPFLOW_SPARK_CONF="
        f"{os.environ.get('CDPFLOW_SPARK_CONF', '')!r}; results in {where}"
    )
    if runs["events"]:
        data = f"v{SAMPLE[0]}-d{SAMPLE[1]}-s{SAMPLE[2]}"
        print(f"\nevents_incremental (first hours of {data}, {RAW}):")
        print("\n".join(report_events(runs["events"])))
    if runs["identity"]:
        print("\nidentity graph, full build (id_stitching child_full):")
        print("\n".join(report_identity(runs["identity"])))


if __name__ == "__main__":
    main()
