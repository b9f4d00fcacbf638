"""The README's table of collector statuses names every status and code the collector's code
can answer with, and nothing it cannot."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
COLLECTOR = ROOT / "src" / "cdpflow" / "collector"
# statuses uvicorn answers itself, before the app sees the request
UVICORN = {(400, "(plain text)"), (503, "(plain text)")}


def _documented() -> set[tuple[int, str]]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- statuses:", 1)[1].split("\n\n", 1)[0]
    rows = set()
    for status, codes in re.findall(r"^\| (\d{3}) \|([^|]*)\|", table, re.MULTILINE):
        for code in re.findall(r"`(\w+)`|(\(plain text\))", codes) or [("", "")]:
            rows.add((int(status), code[0] or code[1]))
    return rows


def _in_code() -> set[tuple[int, str]]:
    found = {(200, "")}
    calls = re.compile(r"(?:CollectorError|error_response|_refuse)\(\s*(\d{3}),\s*\"(\w+)\"")
    mapped = re.compile(r"(\d{3}): \"(\w+)\"")  # Starlette's own 404 / 405, given our codes
    for path in COLLECTOR.glob("*.py"):
        source = path.read_text()
        found |= {(int(s), c) for s, c in calls.findall(source)}
        found |= {(int(s), c) for s, c in mapped.findall(source)}
    return found


def test_every_status_the_collector_answers_is_documented_and_no_other() -> None:
    documented = _documented()
    assert documented - UVICORN == _in_code()
    assert documented >= UVICORN
