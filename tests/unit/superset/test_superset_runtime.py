"""Superset's admin credentials and the Rison queries of its API, without a Superset."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from cdpflow.secrets import open_secrets
from cdpflow.settings import load_settings
from cdpflow.superset.client import rison
from cdpflow.superset.runtime import superset_credentials, superset_environment


def test_unset_password_is_generated_once_and_kept_in_the_secrets_store(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "home")
    first = superset_credentials(settings)
    again = superset_credentials(settings)
    assert first.password == again.password and len(first.password) >= 24
    assert open_secrets(settings).get("superset_password") == first.password
    assert first.password not in repr(first)
    assert first.username == "admin"


def test_set_password_and_user_win(tmp_path: Path) -> None:
    env = {
        "SUPERSET_PASSWORD": "chosen-pw",
        "SUPERSET_USERNAME": "bi",
        "SUPERSET_USER_EMAIL": "bi@x.io",
    }
    creds = superset_credentials(load_settings(env=env, home=tmp_path / "home"))
    assert (creds.username, creds.email, creds.password) == ("bi", "bi@x.io", "chosen-pw")


def test_config_keeps_metadata_under_the_home_and_no_secret_in_the_file(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "home")
    env = superset_environment(settings, tmp_path / "venv")
    config = Path(env["SUPERSET_CONFIG_PATH"]).read_text()
    assert f"sqlite:///{tmp_path / 'home' / 'superset' / 'superset.db'}" in config
    assert env["CDPFLOW_SUPERSET_SECRET_KEY"] not in config
    assert "PYTHONPATH" not in env


def test_rison_quotes_strings_and_nests() -> None:
    query = {"filters": [{"col": "table_name", "opr": "eq", "value": "it's!"}], "page": 0}
    assert (
        unquote(rison(query)) == "(filters:!((col:'table_name',opr:'eq',value:'it!'s!!')),page:0)"
    )
    assert unquote(rison([1, 2])) == "!(1,2)"
