"""The `cdpflow` command as a user runs it: sample traffic in, core_events out, queried by name."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from support.cli import cdpflow

pytestmark = pytest.mark.e2e


def test_sample_traffic_through_events_incremental(tmp_path: Path) -> None:
    home = tmp_path / "home"
    generated = cdpflow(
        home,
        "generate-sample",
        "--days",
        "2",
        "--visitors",
        "60",
        "--seed",
        "7",
        "--end",
        "2026-11-20T00:00:00Z",
        "--dirty-rate",
        "0.02",
    )
    assert "Landed" in generated.stdout and (home / "imports/shop/customers.csv").exists()

    ran = cdpflow(home, "run", "events_incremental")
    numbers = dict(re.findall(r"(read|written|duplicates|quarantined) ([\d,]+)", ran.stdout))
    read, written, dups, bad = (
        int(numbers[k].replace(",", "")) for k in ("read", "written", "duplicates", "quarantined")
    )
    assert written > 500 and bad > 0 and read == written + dups + bad

    counted = cdpflow(
        home,
        "sql",
        "SELECT count(*) AS n, count(DISTINCT event_id) AS ids FROM core_events",
        "--format",
        "json",
    )
    assert json.loads(counted.stdout) == [{"n": written, "ids": written}]

    formats = cdpflow(
        home,
        "sql",
        "SELECT payload_format, count(*) AS n FROM core_events GROUP BY 1 ORDER BY 1",
        "--format",
        "csv",
    )
    rows = list(csv.DictReader(io.StringIO(formats.stdout)))
    assert [r["payload_format"] for r in rows] == ["blotout", "segment"]

    again = cdpflow(home, "run", "events_incremental")
    assert "no raw hours to process" in again.stdout

    rerun = cdpflow(
        home,
        "run",
        "events_incremental",
        "--start",
        "2026-11-18T00:00:00Z",
        "--end",
        "2026-11-21T00:00:00Z",
    )
    assert f"written {written:,}" in rerun.stdout
    assert json.loads(
        cdpflow(home, "sql", "SELECT count(*) AS n FROM core_events", "--format", "json").stdout
    ) == [{"n": written}]

    tables = cdpflow(home, "tables").stdout
    assert "core_events" in tables and "quarantine_events" in tables


def test_import_events_lands_a_file_for_processing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "export.jsonl"
    source.write_text(
        '{"type":"track","event":"Signed Up","messageId":"e1","userId":"u1",'
        '"timestamp":"2025-01-02T03:04:05Z","receivedAt":"2025-01-02T03:04:06Z"}\n'
        "garbage\n"
    )
    landed = cdpflow(home, "import-events", str(source), "--source", "warehouse")
    assert "Landed 2 message(s)" in landed.stdout
    # the export's line keeps its historical hour; the garbage line was received now, in an hour
    # that is still open, so the default run leaves it for later and an explicit interval takes it
    ran = cdpflow(home, "run", "events_incremental")
    assert "2025-01-02T03: read 1, written 1," in ran.stdout
    forced = cdpflow(
        home, "run", "events_incremental", "--start", "2026-01-01", "--end", "2100-01-01"
    )
    assert "quarantined 1 " in forced.stdout
    reason = cdpflow(
        home, "sql", "SELECT reason_code, raw FROM quarantine_events", "--format", "json"
    )
    assert json.loads(reason.stdout) == [{"reason_code": "invalid_json", "raw": "garbage"}]
    row = json.loads(
        cdpflow(
            home,
            "sql",
            "SELECT event_name, source, event_date FROM core_events",
            "--format",
            "json",
        ).stdout
    )
    assert row == [{"event_name": "Signed Up", "source": "warehouse", "event_date": "2025-01-02"}]


def test_config_masks_secrets_and_rejects_bad_values(tmp_path: Path) -> None:
    shown = cdpflow(
        tmp_path, "config", env={"SUPERSET_PASSWORD": "s3cr3t-value", "COMPUTATION_WINDOW": "30"}
    )
    assert "s3cr3t-value" not in shown.stdout and "********" in shown.stdout
    assert re.search(r"COMPUTATION_WINDOW\s+30\s+env", shown.stdout)
    bad = cdpflow(
        tmp_path, "config", env={"EVENTS_INCREMENTAL_SCHEDULE_INTERVAL": "every hour"}, check=False
    )
    assert bad.returncode == 2
    assert "EVENTS_INCREMENTAL_SCHEDULE_INTERVAL has value `every hour`" in bad.stderr


def test_a_query_error_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    failed = cdpflow(tmp_path, "sql", "SELECT * FROM sessions", check=False)
    assert failed.returncode == 1
    assert "sessions" in failed.stderr and "Traceback" not in failed.stderr


def test_a_run_says_how_many_messages_wait_in_the_open_hour(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = tmp_path / "export.jsonl"
    now_message = (  # no receivedAt: imported as received now
        '{"type":"track","event":"Signed Up","messageId":"e%d","userId":"u1",'
        '"timestamp":"2026-01-02T03:04:05Z"}\n'
    )
    source.write_text("".join(now_message % i for i in range(3)))
    cdpflow(home, "import-events", str(source), "--source", "warehouse")

    ran = cdpflow(home, "run", "events_incremental")

    assert "no raw hours to process." in ran.stdout
    note = re.search(
        r"3 message\(s\) wait in raw hours that are still open; the first run after "
        r"(\S+) processes them, or `--end (\S+)` takes them now\.",
        ran.stdout,
    )
    assert note, ran.stdout
    assert note.group(1) == note.group(2) and note.group(1).endswith(":00:00Z")
    taken = cdpflow(home, "run", "events_incremental", "--end", note.group(2))
    assert "read 3, written 3," in taken.stdout
    assert "wait" not in taken.stdout  # an explicit interval says nothing of other hours
