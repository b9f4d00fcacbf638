"""`cdpflow secrets set` stores a value read from stdin and never prints it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from cdpflow.cli.main import cli


def test_a_secret_set_from_stdin_is_stored_privately_and_not_echoed(tmp_path: Path) -> None:
    env = {"CDPFLOW_HOME": str(tmp_path)}
    result = CliRunner().invoke(
        cli, ["secrets", "set", "klaviyo_key"], input="pk_live_123\n", env=env
    )
    assert result.exit_code == 0, result.output
    assert "pk_live_123" not in result.output
    assert "Stored secret `klaviyo_key` (11 characters)" in result.output
    store = tmp_path / "secrets.json"
    assert json.loads(store.read_text())["klaviyo_key"] == "pk_live_123"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    got = CliRunner().invoke(cli, ["secrets", "get", "klaviyo_key"], env=env)
    assert got.output.strip() == "pk_live_123"


def test_an_empty_value_or_a_bad_name_stores_nothing(tmp_path: Path) -> None:
    env = {"CDPFLOW_HOME": str(tmp_path)}
    empty = CliRunner().invoke(cli, ["secrets", "set", "meta_token"], input="\n", env=env)
    assert empty.exit_code == 1 and "No value given for `meta_token`" in empty.output
    bad = CliRunner().invoke(cli, ["secrets", "set", "a b"], input="x\n", env=env)
    assert bad.exit_code == 2
    assert not (tmp_path / "secrets.json").exists()
