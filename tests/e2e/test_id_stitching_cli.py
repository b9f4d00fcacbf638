"""`cdpflow run id_stitching_incremental` as a user runs it, after the sample and events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_cli import cdpflow

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

    rebuilt = cdpflow(home, "run", "id_stitching_incremental", "--full-rebuild").stdout
    assert "(full rebuild)" in rebuilt
    refused = cdpflow(home, "run", "events_incremental", "--full-rebuild", check=False)
    assert refused.returncode != 0 and "no full-rebuild mode" in refused.stderr
