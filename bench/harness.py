"""What every benchmark shares: a measured child process, the median of several runs, and the
line that compares a figure with its target.

Each measurement is a fresh Python process (this machine's figures are for a job as Airflow or
`cdpflow run` starts it: imports and all, and a peak RSS that starts from zero, which a child of
a parent that already holds data would not). A benchmark script calls `run_child(__file__, args)`
for each measurement; in child mode it calls `child_main(CHILDREN)`, which runs the named child
function and hands its JSON result back through a file (stdout stays free for the job's own
output, dbt's included).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

MiB = 1 << 20
RESULT_ENV = "CDPFLOW_BENCH_RESULT"  # where a child writes its JSON result
CHILD_FLAG = "--child"


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without the home and lake it may point at: each child gets
    the home the benchmark made for it."""
    env = {k: v for k, v in os.environ.items() if k not in ("CDPFLOW_HOME", "CDPFLOW_LAKE_URL")}
    env.update(extra)
    return env


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (none when it just ended)."""
    try:
        return [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
    except OSError:
        return []


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (a job's worker processes)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue  # it just ended
        todo += children(current)
        rss = next((line for line in status.splitlines() if line.startswith("VmRSS:")), "")
        total += int(rss.split()[1]) * 1024 if rss else 0
    return total


def run_child(
    script: str | Path,
    args: Sequence[str],
    *,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    label: str = "",
) -> dict[str, Any]:
    """Run `script --child *args` and return its result plus `wall` (seconds, Python start
    included), `cpu_seconds` (user + system of the child and the processes it waited for) and
    `peak_mib`: the larger of its own peak RSS and its process tree's RSS sampled every 50 ms,
    as a job's worker processes can hold more than the job. Disk write-back of earlier work is
    flushed first, so it does not compete with the measured run."""
    os.sync()
    with tempfile.TemporaryDirectory(prefix="bench-child-") as scratch:
        result_path = Path(scratch) / "result.json"
        child = dict(env if env is not None else child_env())
        if home is not None:
            child["CDPFLOW_HOME"] = str(home)
        child[RESULT_ENV] = str(result_path)
        with open(Path(scratch) / "out", "w+b") as out:
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, str(script), CHILD_FLAG, *args],
                env=child,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            peak_tree = 0
            done = threading.Event()

            def sample() -> None:
                nonlocal peak_tree
                while not done.wait(0.05):
                    peak_tree = max(peak_tree, tree_rss(proc.pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
            wall = time.monotonic() - started
            done.set()
            sampler.join()
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0 or not result_path.exists():
                out.seek(0)
                print(out.read().decode(errors="replace")[-8000:], file=sys.stderr)
                raise SystemExit(f"{label or ' '.join(args)}: child failed, exit {proc.returncode}")
        result: dict[str, Any] = json.loads(result_path.read_text())
    result["peak_mib"] = max(
        float(result.get("peak_mib", 0.0)), peak_tree / MiB, usage.ru_maxrss / 1024
    )
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["wall"] = wall
    if label:
        result["name"] = label
    return result


def own_peak_mib() -> float:
    """This process's peak RSS so far (VmHWM), for a child to report a phase's memory."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start VmHWM again from the current RSS, to measure the next phase alone."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def is_child(argv: Sequence[str] | None = None) -> bool:
    return CHILD_FLAG in (sys.argv if argv is None else argv)[1:2]


def child_main(children: Mapping[str, Callable[..., Mapping[str, Any]]]) -> None:
    """Child mode: `script --child NAME ARGS...` runs children[NAME](*ARGS) and hands back its
    result with the process's own peak RSS."""
    name, *args = sys.argv[2:]
    result = dict(children[name](*args))
    result["peak_mib"] = max(float(result.get("peak_mib", 0.0)), own_peak_mib())
    out = os.environ.get(RESULT_ENV)
    text = json.dumps(result, default=str)
    if out:
        Path(out).write_text(text)
    else:
        print(text)


def median_run(runs: Sequence[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], float]):
    """The run whose figure is the median (the lower middle of an even count): the figure a
    2-core machine reproduces, as single runs vary by several percent."""
    ordered = sorted(runs, key=key)
    return ordered[(len(ordered) - 1) // 2]


def spread(values: Sequence[float]) -> str:
    """`median M (min A, max B)` of several runs' figures."""
    return (
        f"median {statistics.median(values):,.0f} (min {min(values):,.0f}, max {max(values):,.0f})"
    )


def verdict(label: str, value: float, target: float, unit: str, *, at_most: bool = False) -> str:
    """One line comparing a figure with its target: `label: value unit vs target: PASS|FAIL`."""
    ok = value <= target if at_most else value >= target
    bound = "<=" if at_most else ">="
    shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{label}: {shown} {unit} vs target {bound} {target:,.0f} {unit}: " + (
        "PASS" if ok else "FAIL"
    )
