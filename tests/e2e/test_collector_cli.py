"""`cdpflow source add|list` as a user runs them: a key printed once, names listed, keys never."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import cdpflow

pytestmark = pytest.mark.e2e


def test_sources_get_keys_that_list_never_shows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    added = cdpflow(home, "source", "add", "web-shop")
    key = added.stdout.strip()
    assert len(key) >= 32 and "secrets get source:web-shop" in added.stderr
    cdpflow(home, "source", "add", "ios")
    listed = cdpflow(home, "source", "list")
    assert listed.stdout.split() == ["ios", "web-shop"] and key not in listed.stdout
    assert json.loads((home / "secrets.json").read_text())["source:web-shop"] == key
    again = cdpflow(home, "source", "add", "web-shop", check=False)
    assert again.returncode == 1 and "exists already" in again.stderr
    shown = cdpflow(home, "config").stdout
    assert "CDPFLOW_COLLECTOR_MAX_BODY_BYTES" in shown and key not in shown
