"""Load the event collector from a second process on loopback and count what it kept.

Run from the project root:

    .venv/bin/python bench/collector.py [--seconds 20] [--connections 16] [--rate 0]

Starts `cdpflow collector` as a subprocess with a fresh CDPFLOW_HOME (under bench/.data/, removed
afterwards unless --keep), then sends Segment batches of 100 track events to `/v1/batch` over
`--connections` keep-alive connections for `--seconds` (closed loop; `--rate` caps the events/s),
and stops by itself. It reports sustained events/s, request latency p50/p99/max, the server's CPU
time, and the count check: events acknowledged (200) == events landed in the raw zone == rows in
core_events after events_incremental. Only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
TARGET_EVENTS_PER_S = 20_000
TARGET_P99_MS = 100.0


def batch_body(run: str, number: int, size: int) -> tuple[bytes, int]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    events = [
        {
            "type": "track",
            "event": "Product Viewed",
            "messageId": f"{run}-{number}-{i}",
            "anonymousId": f"anon-{(number * size + i) % 50_000}",
            "timestamp": now,
            "properties": {
                "sku": f"SKU-{i % 500}",
                "price": 19.99,
                "currency": "USD",
                "category": "shoes",
                "name": "Trail runner",
            },
            "context": {
                "library": {"name": "bench", "version": "1"},
                "page": {
                    "url": "https://shop.example.com/p/trail?utm_source=google",
                    "path": "/p/trail",
                    "title": "Trail runner",
                },
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64) bench",
            },
        }
        for i in range(size)
    ]
    return orjson.dumps({"batch": events, "sentAt": now}), size


async def connection(
    port: int, auth: str, run: str, state: dict, deadline: float, size: int, interval: float
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        next_at = time.perf_counter()
        while time.perf_counter() < deadline:
            number = state["next"]
            state["next"] += 1
            body, count = batch_body(run, number, size)
            head = (
                f"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            state["latencies"].append(time.perf_counter() - started)
            if status_line.split()[1] == b"200":
                state["acked"] += count
            else:
                state["refused"] += 1
            if interval:
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    finally:
        writer.close()


async def load(port: int, auth: str, args: argparse.Namespace) -> dict:
    state = {"next": 0, "acked": 0, "refused": 0, "latencies": []}
    deadline = time.perf_counter() + args.seconds
    interval = args.connections * args.batch / args.rate if args.rate else 0.0
    started = time.perf_counter()
    await asyncio.gather(
        *(
            connection(port, auth, args.run, state, deadline, args.batch, interval)
            for _ in range(args.connections)
        )
    )
    state["seconds"] = time.perf_counter() - started
    return state


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="events/s cap; 0: no cap")
    parser.add_argument("--port", type=int, default=18_765)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.run = uuid.uuid4().hex[:8]

    from cdpflow.collector.auth import add_source
    from cdpflow.jobs.events_incremental import run as events_incremental
    from cdpflow.lake.raw import list_raw_hours
    from cdpflow.lake.storage import Lake
    from cdpflow.secrets import open_secrets
    from cdpflow.settings import load_settings

    home = BENCH / ".data" / f"collector-{args.run}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDPFLOW_")}
    settings = load_settings(env=env, home=home)
    key = add_source(open_secrets(settings), "bench")
    auth = __import__("base64").b64encode(f"{key}:".encode()).decode()
    cli = [sys.executable, "-m", "cdpflow.cli.main", "collector", "--port", str(args.port)]
    server = subprocess.Popen(cli, env={**env, "CDPFLOW_HOME": str(home)})
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{args.port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        print(
            f"loading for {args.seconds:.0f}s: {args.connections} connections, "
            f"batches of {args.batch}, rate {'max' if not args.rate else f'{args.rate:,.0f}/s'}",
            flush=True,
        )
        state = asyncio.run(load(args.port, auth, args))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = usage.ru_utime + usage.ru_stime

    lake = Lake(settings.lake_url)
    landed = 0
    files = 0
    for hour in list_raw_hours(lake):
        for path, _ in hour.files:
            files += 1
            for line in gzip.decompress(lake.read_bytes(path)).splitlines():
                landed += len(orjson.loads(line)["batch"])
    result = events_incremental(settings, now=datetime.now(UTC) + timedelta(hours=2))

    lat = state["latencies"]
    rate = state["acked"] / state["seconds"]
    p50, p99 = percentile(lat, 0.50) * 1000, percentile(lat, 0.99) * 1000
    print(
        f"\nrequests {len(lat):,} ({state['refused']} refused), events acknowledged "
        f"{state['acked']:,} in {state['seconds']:.1f}s"
    )
    print(f"throughput {rate:,.0f} events/s ({len(lat) / state['seconds']:,.0f} requests/s)")
    print(f"latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(lat) * 1000:.1f} ms")
    print(
        f"server CPU {server_cpu:.1f} s ({server_cpu / state['seconds']:.2f} cores), "
        f"{files} raw file(s)"
    )
    print(
        f"acknowledged {state['acked']:,} == landed {landed:,} == core_events {result.written:,}"
        f" (quarantined {result.quarantined}, duplicates {result.duplicates}): "
        f"{'PASS' if state['acked'] == landed == result.written else 'FAIL'}"
    )
    print(
        f"throughput vs {TARGET_EVENTS_PER_S:,}/s: "
        f"{'(rate capped)' if args.rate else 'PASS' if rate >= TARGET_EVENTS_PER_S else 'FAIL'}; "
        f"p99 vs {TARGET_P99_MS:.0f} ms: {'PASS' if p99 < TARGET_P99_MS else 'FAIL'}"
    )
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
