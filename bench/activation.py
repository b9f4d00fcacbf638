"""Benchmark activation: a segment of 1,000,000 people synced to the local Klaviyo and Meta
servers, first in full, then day to day after 1% of the segment changed.

Run from the project root:

    .venv/bin/python bench/activation.py [--people 1000000] [--change 0.01] [--keep]

A fresh CDPFLOW_HOME (under bench/.data/, removed afterwards unless --keep) gets a
segment_members table (each person with an email, a phone, names and a country, written as
entity_creation commits it: tests/support/activation.py) and two destinations on that segment,
one `klaviyo` and one `meta_custom_audience`, set up as the integration tests set them up. The
contract servers of tests/fakes/ (klaviyo.py, meta.py) run in processes of their own on loopback,
so they do not share the job's GIL; each counts the requests it answers per endpoint and reports
its state (list or audience members) when asked over a pipe, which the fakes themselves do not
have to know about.

Each measured run is `activation_<name>` in a fresh process (harness.run_child):
1. full: the first sync of all people to each channel: people/s, wall seconds, peak memory, and
   the HTTP requests sent per endpoint against the fewest the channels' documented batch limits
   allow (Klaviyo: one bulk import job per 10,000 profiles, which puts them on the list itself,
   and per removal one profile lookup per 100 external ids and one list relationship call per
   1,000 profile ids; Meta: one users request per 10,000 rows; polling an import job and finding
   the list or audience are not counted);
2. day to day: `--change` of the segment changed (half of it leaves, as many new people join),
   then each destination synced again: it must send only those people (checked in the run's
   counts and on the servers' side), in under 10 s.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from harness import child_main, is_child, run_child, verdict

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fakes and the tests' segment_members writer

KLAVIYO_KEY = "pk_bench_6b1e0c"
META_TOKEN = "EAAbench-token-91d2"
LIST, AUDIENCE, SEGMENT = "Bench buyers", "Bench buyers", "bench_buyers"
DESTINATIONS = ("bench-klaviyo", "bench-meta")
TARGET_DAILY_S = 10.0
IMPORT_BATCH, LIST_BATCH, PAGE, META_ROWS = 10_000, 1_000, 100, 10_000  # the documented limits
ID = re.compile(r"^(?:[A-Z]\d{6,}[0-9A-F]{6}|\d+|act_\d+)$")  # a fake's object ids


# -- the servers, each in a process of its own ------------------------------------------------


def endpoint(method: str, target: str) -> str:
    """`POST /api/lists/{id}/relationships/profiles`: the request's endpoint, ids folded."""
    path = target.split("?", 1)[0]
    parts = ["{id}" if ID.match(p) else p for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


def klaviyo_state(account: Any) -> dict[str, Any]:
    found = [i for i, v in account.lists.items() if v["name"] == LIST]
    members = sorted(account.members(found[0])) if found else []
    return {
        "members": len(members),
        "digest": digest(members),
        "joined": len(account.joined),
        "profiles": len(account.profiles),
    }


def meta_state(graph: Any) -> dict[str, Any]:
    found = [a for a in graph.audiences.values() if a.name == AUDIENCE]
    members = sorted(found[0].members) if found else []
    adds = sum(1 for op, _, _ in graph.applied if op == "add")
    return {
        "members": len(members),
        "digest": digest(members),
        "applied_adds": adds,
        "applied_removes": len(graph.applied) - adds,
        "duplicates": graph.duplicates,
    }


def digest(values: list[str]) -> str:
    h = hashlib.sha256()
    for value in values:
        h.update(value.encode() + b"\n")
    return h.hexdigest()[:16]


def serve(kind: str) -> None:
    """Server mode: serve the fake `kind`, print its URL, answer `stats` lines on stdin with
    the requests per endpoint and the fake's state; end at EOF."""
    from fakes import channel_server
    from fakes.klaviyo import KlaviyoAccount
    from fakes.meta import MetaGraph

    fake: Any = KlaviyoAccount(KLAVIYO_KEY) if kind == "klaviyo" else MetaGraph(META_TOKEN)
    state = klaviyo_state if kind == "klaviyo" else meta_state
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def counted(method: str, target: str, headers: Any, body: bytes) -> Any:
        answer = fake.handle(method, target, headers, body)
        with lock:
            counts[f"{endpoint(method, target)} {answer[0]}"] += 1
        return answer

    server = channel_server.serve(counted, "application/json", 0)
    fake.url = channel_server.url_of(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(fake.url, flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            with fake.lock, lock:
                answer = {"requests": dict(counts), **state(fake)}
            print(orjson.dumps(answer).decode(), flush=True)
    server.shutdown()


class Server:
    """A fake in its own process, asked for its counts over a pipe."""

    def __init__(self, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"the {kind} server did not start")

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = orjson.loads(self.proc.stdout.readline())
        return answer

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# -- the job, in a measured child process -----------------------------------------------------


def child_sync(name: str) -> dict[str, Any]:
    from cdpflow.activation.job import run
    from cdpflow.settings import load_settings

    started = time.monotonic()
    result = run(load_settings(), name=name)
    return {
        "job_seconds": time.monotonic() - started,
        "added": result.added,
        "updated": result.updated,
        "removed": result.removed,
        "failed": result.failed,
        "skipped": result.skipped,
        "unchanged": result.unchanged,
        "extracted": result.extracted,
        "status": result.status,
    }


# -- the data ------------------------------------------------------------------------------


def people(numbers: range | list[int]) -> pa.Table:
    """Segment members `numbers`, with entity_creation's columns."""
    from support.activation import SEGMENT_MEMBERS

    n = list(numbers)
    entered = datetime(2026, 11, 1, tzinfo=UTC)
    columns = {
        "segment": [SEGMENT] * len(n),
        "global_user_id": [f"u{i:07d}" for i in n],
        "entered_at": [entered] * len(n),
        "emails": [[f"Person{i}@Example.com"] for i in n],
        "phones": [[f"+1555{i:07d}"] for i in n],
        "first_name": [f"First{i}" for i in n],
        "last_name": ["Doe"] * len(n),
        "country": ["US"] * len(n),
        "consent": [True] * len(n),
    }
    return pa.table(columns, schema=SEGMENT_MEMBERS)


def expected_members(numbers: list[int]) -> dict[str, str]:
    """What each server should hold afterwards: Klaviyo's external ids, Meta's email hashes."""
    from cdpflow.activation.meta_hashing import hashed

    gids = sorted(f"u{i:07d}" for i in numbers)
    hashes = sorted(hashed("EMAIL", f"Person{i}@Example.com") for i in numbers)
    return {"bench-klaviyo": digest(gids), "bench-meta": digest(hashes)}


def setup(home: Path, klaviyo_url: str, meta_url: str, numbers: list[int]) -> None:
    from support.activation import write_segment_members

    from cdpflow.activation.destination import write_destination
    from cdpflow.secrets import open_secrets
    from cdpflow.settings import load_settings

    settings = load_settings(env={}, home=home)
    open_secrets(settings).put("klaviyo_key", KLAVIYO_KEY)
    open_secrets(settings).put("meta_token", META_TOKEN)
    write_destination(
        settings,
        "bench-klaviyo",
        {
            "type": "klaviyo",
            "segment": SEGMENT,
            "list": LIST,
            "key_secret": "klaviyo_key",
            "api_base_url": klaviyo_url,
        },
    )
    write_destination(
        settings,
        "bench-meta",
        {
            "type": "meta_custom_audience",
            "segment": SEGMENT,
            "ad_account": "act_1001",
            "audience": AUDIENCE,
            "token_secret": "meta_token",
            "api_base_url": meta_url,
        },
    )
    write_segment_members(settings, people(numbers))


def change(home: Path, numbers: list[int], share: float) -> tuple[list[int], int, int]:
    """Half of `share` of the people leave (every k-th), as many new ones join."""
    from support.activation import write_segment_members

    from cdpflow.settings import load_settings

    moved = round(len(numbers) * share / 2)
    step = max(len(numbers) // max(moved, 1), 1)
    leaving = set(numbers[::step][:moved])
    joining = list(range(max(numbers) + 1, max(numbers) + 1 + moved))
    kept = [i for i in numbers if i not in leaving] + joining
    write_segment_members(load_settings(env={}, home=home), people(kept))
    return kept, len(leaving), len(joining)


# -- the report ----------------------------------------------------------------------------


def fewest_requests(kind: str, adds: int, removes: int) -> int:
    """The fewest requests the documented batch limits allow for these adds and removes."""
    if kind == "bench-klaviyo":
        return (
            math.ceil(adds / IMPORT_BATCH)
            + math.ceil(removes / PAGE)
            + math.ceil(removes / LIST_BATCH)
        )
    return math.ceil(adds / META_ROWS) + math.ceil(removes / META_ROWS)


def requests_between(before: dict[str, Any], after: dict[str, Any]) -> Counter[str]:
    diff = Counter(after["requests"])
    diff.subtract(before["requests"])
    return Counter({k: v for k, v in diff.items() if v})


def show_requests(requests: Counter[str]) -> None:
    for name, count in sorted(requests.items(), key=lambda kv: -kv[1]):
        print(f"    {count:>8,}  {name}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--change", type=float, default=0.01, help="share changed day to day")
    parser.add_argument("--keep", action="store_true", help="keep the CDPFLOW_HOME")
    args = parser.parse_args()
    (BENCH / ".data").mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="activation-", dir=BENCH / ".data"))
    servers = {"bench-klaviyo": Server("klaviyo"), "bench-meta": Server("meta")}
    lines: list[str] = []
    failed = False
    try:
        numbers = list(range(1, args.people + 1))
        started = time.monotonic()
        setup(home, servers["bench-klaviyo"].url, servers["bench-meta"].url, numbers)
        print(
            f"{args.people:,} people in segment_members in {time.monotonic() - started:.1f}s; "
            f"{os.cpu_count()} cores, load average {load_average()}; home {home}"
        )
        print(f"\n1. first sync of {args.people:,} people")
        for name, server in servers.items():
            before, cpu = server.stats(), server.cpu_seconds()
            run = run_child(__file__, ["sync", name], home=home, label=f"{name} full")
            after = server.stats()
            requests = requests_between(before, after)
            sent, fewest = sum(requests.values()), fewest_requests(name, args.people, 0)
            print(
                f"  {name}: {run['status']}, added {run['added']:,}, failed {run['failed']:,}; "
                f"{run['wall']:.1f}s wall ({run['job_seconds']:.1f}s in the job), "
                f"{args.people / run['wall']:,.0f} people/s, peak {run['peak_mib']:,.0f} MiB, "
                f"job CPU {run['cpu_seconds']:.1f}s, server CPU "
                f"{server.cpu_seconds() - cpu:.1f}s; load {load_average()}"
            )
            print(
                f"  {sent:,} requests vs {fewest:,} the batch limits allow "
                f"({sent / fewest:.1f}x); the server holds {after['members']:,} members:"
            )
            show_requests(requests)
            ok = run["added"] == args.people and after["members"] == args.people
            failed |= not ok
            lines.append(
                f"{name} full sync: {args.people / run['wall']:,.0f} people/s, "
                f"{run['wall']:.1f}s, peak {run['peak_mib']:,.0f} MiB, {sent:,} requests "
                f"(fewest {fewest:,}); all acknowledged: {'PASS' if ok else 'FAIL'}"
            )

        kept, left, joined = change(home, numbers, args.change)
        expected = expected_members(kept)
        print(f"\n2. day to day: {left:,} left the segment, {joined:,} joined")
        for name, server in servers.items():
            before = server.stats()
            run = run_child(__file__, ["sync", name], home=home, label=f"{name} daily")
            after = server.stats()
            requests = requests_between(before, after)
            sent, fewest = sum(requests.values()), fewest_requests(name, joined, left)
            print(
                f"  {name}: {run['status']}, added {run['added']:,}, updated "
                f"{run['updated']:,}, removed {run['removed']:,}, unchanged "
                f"{run['unchanged']:,}; {run['wall']:.1f}s wall ({run['job_seconds']:.1f}s in "
                f"the job), peak {run['peak_mib']:,.0f} MiB, job CPU {run['cpu_seconds']:.1f}s; "
                f"load {load_average()}"
            )
            print(
                f"  {sent:,} requests vs {fewest:,} the batch limits allow; the server holds "
                f"{after['members']:,} members:"
            )
            show_requests(requests)
            if name == "bench-klaviyo":
                on_server = after["joined"] - before["joined"]  # profiles newly put on the list
            else:
                on_server = after["applied_adds"] - before["applied_adds"]
            only_change = (
                (run["added"], run["updated"], run["removed"]) == (joined, 0, left)
                and on_server == joined
                and after["members"] == len(kept)
                and after["digest"] == expected[name]
            )
            failed |= not only_change
            lines.append(
                f"{name} day to day sends only the {left + joined:,} changed: "
                f"{'PASS' if only_change else 'FAIL'}"
            )
            lines.append(
                verdict(f"{name} day to day", run["wall"], TARGET_DAILY_S, "s", at_most=True)
            )
            failed |= run["wall"] > TARGET_DAILY_S
    finally:
        for server in servers.values():
            server.close()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(f"\nload average at the end: {load_average()}")
    print("\n".join(lines))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    if is_child():
        child_main({"sync": child_sync})
    elif sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        main()
