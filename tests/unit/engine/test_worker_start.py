"""A worker process's start is part of every events_incremental run: what it imports is paid on
each one (in a process of its own, as a worker runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_FLATTEN_IN_A_FRESH_PROCESS = """
import gzip, json, sys
from pathlib import Path
from cdpflow.engine.duckdb_common import connect
from cdpflow.engine.duckdb_events import EventsWorker
from cdpflow.lake.raw_reader import RawFile
from cdpflow.lake.storage import Lake

root = Path(sys.argv[1])
lake = Lake(str(root / "lake"))
line = (
    '{"_cdp":{"received_at":"2026-11-20T13:05:00Z","source":"web","size":120},"type":"track",'
    '"event":"Viewed","messageId":"m-%d","anonymousId":"a-1","timestamp":"2026-11-20T13:04:59Z"}'
)
body = "".join(line % i + "\\n" for i in range(50)).encode()
with lake.atomic_writer("raw/events/f.jsonl.gz") as handle:
    handle.write(gzip.compress(body))
con = connect(config={"threads": 1})
worker = EventsWorker(con, lake, 1 << 20, 32768, 200_000_000)
raw_file = RawFile("raw/events/f.jsonl.gz", "2026-11-20T13")
counts = worker.flatten("flat", [raw_file], root / "keys.parquet")
print(json.dumps({"events": counts.events, "pandas": "pandas" in sys.modules}))
"""


def test_a_worker_flattens_without_importing_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas the first time it is given Python objects to build an array from
    (a quarter of a second, a quarter of a worker's start); the worker builds from buffers."""
    done = subprocess.run(
        [sys.executable, "-c", _FLATTEN_IN_A_FRESH_PROCESS, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == {"events": 50, "pandas": False}
