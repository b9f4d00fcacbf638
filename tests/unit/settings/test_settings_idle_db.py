"""The settings of delete_idle_db_connections: strict parsing, the URL's password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdpflow.errors import ConfigError
from cdpflow.settings import MASK, load_settings

URL = "postgresql://janitor:pa55-w0rd@db.internal:5432/app"


def test_defaults_leave_the_job_unconfigured(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path)
    assert (s.idle_db_url, s.idle_db_conn_id) == ("", "")
    assert s.idle_threshold_minutes == 30
    assert s.idle_include_other_users is False and s.idle_include_replication is False


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("YES", True), ("1", True), ("false", False), ("no", False), ("0", False)],
)
def test_booleans_take_true_false_yes_no_1_0(tmp_path: Path, raw: str, expected: bool) -> None:
    s = load_settings(env={"CDPFLOW_IDLE_INCLUDE_OTHER_USERS": raw}, home=tmp_path)
    assert s.idle_include_other_users is expected


def test_yaml_booleans_are_taken_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "cdpflow.yaml").write_text("CDPFLOW_IDLE_INCLUDE_REPLICATION: yes\n")
    assert load_settings(env={}, home=tmp_path).idle_include_replication is True


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("CDPFLOW_IDLE_INCLUDE_OTHER_USERS", "maybe", "one of: true, false, yes, no, 1, 0"),
        ("CDPFLOW_IDLE_INCLUDE_REPLICATION", "on", "CDPFLOW_IDLE_INCLUDE_REPLICATION has value"),
        ("CDPFLOW_IDLE_THRESHOLD_MINUTES", "half an hour", "a number of minutes above 0"),
        ("CDPFLOW_IDLE_THRESHOLD_MINUTES", "0", "above 0"),
        ("CDPFLOW_IDLE_THRESHOLD_MINUTES", "-5", "above 0"),
        ("CDPFLOW_IDLE_DB_URL", "db.internal:5432", "a PostgreSQL URL"),
    ],
)
def test_a_bad_value_fails_at_load_naming_the_key(
    tmp_path: Path, key: str, value: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        load_settings(env={key: value}, home=tmp_path)
    assert caught.value.key == key


def test_threshold_takes_fractions_of_a_minute(tmp_path: Path) -> None:
    s = load_settings(env={"CDPFLOW_IDLE_THRESHOLD_MINUTES": "0.5"}, home=tmp_path)
    assert s.idle_threshold_minutes * 60 == 30


@pytest.mark.parametrize(
    "bad",
    [
        "mysql://janitor:pa55-w0rd@db.internal/app",
        "postgresql://janitor:pa55-w0rd@db.internal:port/app",
        "postgresql://janitor@db.internal/app?password=pa55-w0rd",
    ],
)
def test_a_refused_url_never_shows_its_password(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="CDPFLOW_IDLE_DB_URL") as caught:
        load_settings(env={"CDPFLOW_IDLE_DB_URL": bad}, home=tmp_path)
    assert "pa55-w0rd" not in str(caught.value)


def test_the_url_password_is_masked_in_the_description_and_repr(tmp_path: Path) -> None:
    s = load_settings(env={"CDPFLOW_IDLE_DB_URL": URL}, home=tmp_path)
    assert s.idle_db_url == URL
    shown = dict((key, value) for key, value, _ in s.describe())
    assert shown["CDPFLOW_IDLE_DB_URL"] == f"postgresql://janitor:{MASK}@db.internal:5432/app"
    assert "pa55-w0rd" not in repr(s)
