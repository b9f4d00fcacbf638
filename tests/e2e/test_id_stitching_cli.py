"""`cdpflow run id_stitching_incremental` as a user runs it, after the sample and events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support.cli import cdpflow

pytestmark = pytest.mark.e2e


def test_sample_traffic_and_shop_export_become_people(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cdpflow(home, "generate-sample", "--days", "2", "--visitors", "80", "--seed", "3",
            "--end", "2026-11-20T00:00:00Z")  # fmt: skip
    cdpflow(home, "run", "events_incremental")

    first = cdpflow(home, "run", "id_stitching_incremental").stdout
    assert re.search(r"read \d+ core_events file\(s\) and 2 offline file\(s\)", first)
    again = cdpflow(home, "run", "id_stitching_incremental").stdout
    assert "nothing new to read" in again

    shown = cdpflow(
        home,
        "sql",
        "--format",
        "json",
        """SELECT count(*) AS customers_online FROM identities s
           WHERE s.identifier_type = 'shop_customer_id' AND EXISTS (
             SELECT 1 FROM identities a WHERE a.global_user_id = s.global_user_id
             AND a.identifier_type = 'anonymous_id')""",
    ).stdout
    assert json.loads(shown)[0]["customers_online"] > 0
    tables = cdpflow(home, "tables").stdout
    for name in ("identities", "identity_edges"):
        assert name in tables

    # A later run joins a new device to a stored customer: it writes only the changed rows, as
    # a delta over the stored table, and readers still see one row per identifier.
    (customer,) = json.loads(
        cdpflow(home, "sql", "--format", "json", "SELECT min(identifier_value) AS v "
                "FROM identities WHERE identifier_type = 'user_id'").stdout
    )  # fmt: skip
    login = {"type": "identify", "messageId": "late-login", "anonymousId": "new-device",
             "userId": customer["v"], "timestamp": "2026-11-21T03:04:05Z",
             "receivedAt": "2026-11-21T03:04:06Z"}  # fmt: skip
    (tmp_path / "login.jsonl").write_text(json.dumps(login) + "\n")
    cdpflow(home, "import-events", str(tmp_path / "login.jsonl"))
    cdpflow(home, "run", "events_incremental")
    later = cdpflow(home, "run", "id_stitching_incremental").stdout
    assert (
        "joined by the new links" in later and "wrote 2 changed identifiers as the delta" in later
    )
    counted = cdpflow(
        home,
        "sql",
        "--format",
        "json",
        f"""SELECT count(*) AS n, count(DISTINCT (identifier_type, identifier_value)) AS keys,
                   count(DISTINCT global_user_id) FILTER (
                     WHERE identifier_value IN ('new-device', '{customer["v"]}')) AS people
            FROM identities""",
    ).stdout
    ((n, keys, people),) = [tuple(r.values()) for r in json.loads(counted)]
    assert n == keys and people == 1
    listed = re.search(r"^identities\s+([\d,]+)", cdpflow(home, "tables").stdout, re.M)
    assert listed and int(listed.group(1).replace(",", "")) == n

    rebuilt = cdpflow(home, "run", "id_stitching_incremental", "--full-rebuild").stdout
    assert "(full rebuild)" in rebuilt
    refused = cdpflow(home, "run", "events_incremental", "--full-rebuild", check=False)
    assert refused.returncode != 0 and "no full-rebuild mode" in refused.stderr
