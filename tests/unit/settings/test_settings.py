from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest

from cdpflow.cron import cron_problem
from cdpflow.errors import ConfigError
from cdpflow.settings import MASK, SETTINGS, Settings, load_settings


def test_defaults_match_the_documented_variables(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path)
    assert s.airflow_start_date == datetime(1977, 10, 1)
    assert s.aws_region == "us-west-2"
    assert s.computation_window == 90
    assert s.emr_ec2_instance_type == "m4.large"
    assert s.events_incremental_schedule_interval == "0 * * * *"
    assert s.id_stitching_incremental_schedule_interval == "0 */4 * * *"
    assert s.schedule_interval_delete_idle_connections == "0 */3 * * *"
    assert s.user_reporting_schedule_interval == "*/30 * * * *"
    assert s.engine == "duckdb"
    assert s.lake_url == str(tmp_path.resolve() / "lake")


def test_settings_built_directly_hold_the_documented_defaults(tmp_path: Path) -> None:
    """Each setting is declared once, so the dataclass and the loader cannot disagree."""
    direct = Settings(home=tmp_path.resolve())
    loaded = load_settings(env={}, home=tmp_path)
    for s in SETTINGS:
        assert getattr(direct, s.attr) == getattr(loaded, s.attr), s.key
    assert direct.lake_url == str(tmp_path.resolve() / "lake")
    assert dict(direct.instance_hourly_prices)["m4.large"] > 0
    assert len({s.key for s in SETTINGS}) == len({s.attr for s in SETTINGS}) == len(SETTINGS)


def test_every_field_of_the_topic_modules_is_a_loadable_setting(tmp_path: Path) -> None:
    """A field added to a settings module without `setting(...)` could never be configured."""
    attrs = {f.name for f in fields(Settings)} - {"home", "origins"}
    assert attrs == {s.attr for s in SETTINGS}
    keys = [key for key, _, _ in load_settings(env={}, home=tmp_path).describe()]
    assert keys == ["CDPFLOW_HOME", *(s.key for s in SETTINGS)]
    assert keys[1] == "AIRBYTE_URL" and keys[-1] == "CDPFLOW_AIRBYTE_HTTP_ATTEMPTS"


def test_every_documented_variable_is_a_setting(tmp_path: Path) -> None:
    documented = [
        "AIRBYTE_URL",
        "AIRFLOW_DAG_FAILED_EMAIL",
        "AIRFLOW_START_DATE",
        "AWS_REGION",
        "COMPUTATION_WINDOW",
        "EVENTS_INCREMENTAL_SCHEDULE_INTERVAL",
        "ID_STITCHING_INCREMENTAL_SCHEDULE_INTERVAL",
        "PRIVATE_SUBNET",
        "SCHEDULE_INTERVAL_DELETE_IDLE_CONNECTIONS",
        "SUPERSET_BASE_URL",
        "SUPERSET_USERNAME",
        "SUPERSET_PASSWORD",
        "SUPERSET_USER_EMAIL",
        "TAG_DBT_ANALYTICS",
        "TAG_DBT_CODE_GENERATOR",
        "TAG_DBT_REVERSE_EL",
        "TAG_SUPERSET_AUTOMATION",
        "USER_REPORTING_SCHEDULE_INTERVAL",
    ]
    keys = {key for key, _, _ in load_settings(env={}, home=tmp_path).describe()}
    assert set(documented) <= keys


def test_layers_yaml_then_env_then_airflow_variables(tmp_path: Path) -> None:
    (tmp_path / "cdpflow.yaml").write_text(
        "COMPUTATION_WINDOW: 30\naws_region: eu-west-1\nEMR_EC2_INSTANCE_TYPE: r5.xlarge\n"
    )
    s = load_settings(
        env={"COMPUTATION_WINDOW": "60", "AWS_REGION": "us-east-1"},
        airflow_variables={"COMPUTATION_WINDOW": "7", "AWS_REGION": None},
        home=tmp_path,
    )
    assert s.computation_window == 7
    assert s.aws_region == "us-east-1"
    assert s.emr_ec2_instance_type == "r5.xlarge"
    assert s.origins["COMPUTATION_WINDOW"] == "airflow variable"
    assert s.origins["AWS_REGION"] == "env"
    assert s.origins["EMR_EC2_INSTANCE_TYPE"] == "cdpflow.yaml"


def test_cdpflow_home_comes_from_the_environment(tmp_path: Path) -> None:
    s = load_settings(env={"CDPFLOW_HOME": str(tmp_path / "h")})
    assert s.home == (tmp_path / "h").resolve()


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("COMPUTATION_WINDOW", "ninety", "COMPUTATION_WINDOW has value `ninety`; expected a whole"),
        ("COMPUTATION_WINDOW", "0", "at least 1"),
        ("EVENTS_INCREMENTAL_SCHEDULE_INTERVAL", "0 * * *", "5 fields"),
        ("ID_STITCHING_INCREMENTAL_SCHEDULE_INTERVAL", "61 * * * *", "`61` is outside 0-59"),
        ("CDPFLOW_ENGINE", "oracle", "CDPFLOW_ENGINE has value `oracle`; expected one of: duckdb"),
        ("AIRFLOW_START_DATE", "yesterday", "AIRFLOW_START_DATE has value `yesterday`"),
        ("SUPERSET_BASE_URL", "localhost:8088", "http"),
        ("AIRFLOW_DAG_FAILED_EMAIL", "ops-at-example", "email"),
        ("CDPFLOW_INSTANCE_HOURLY_PRICES", "m4.large=cheap", "a price in USD"),
        ("CDPFLOW_INSTANCE_HOURLY_PRICES", "m4.large", "instance=price pairs"),
        ("CDPFLOW_STORAGE_GB_MONTH_PRICE", "-1", "a price in USD"),
        ("CDPFLOW_AWS_COST_TAG", "cdpflow", "`key=value`"),
        ("CDPFLOW_SMTP_PORT", "smtp", "a whole number of port"),
        ("CDPFLOW_META_GRAPH_API_VERSION", "25.0", "a Graph API version like v25.0"),
    ],
)
def test_a_bad_value_fails_at_load_naming_key_and_value(
    tmp_path: Path, key: str, value: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        load_settings(env={key: value}, home=tmp_path)
    assert caught.value.key == key


def test_unknown_key_in_yaml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cdpflow.yaml").write_text("COMPUTATOIN_WINDOW: 30\n")
    with pytest.raises(ConfigError, match="COMPUTATOIN_WINDOW"):
        load_settings(env={}, home=tmp_path)


def test_secrets_are_masked_in_the_description(tmp_path: Path) -> None:
    s = load_settings(
        env={
            "SUPERSET_PASSWORD": "hunter2-secret",
            "CDPFLOW_LAKE_URL": "s3://AKIAKEY:wJalrSECRET@bucket/lake",
        },
        home=tmp_path,
    )
    shown = "\n".join(f"{k}={v}" for k, v, _ in s.describe())
    assert "hunter2-secret" not in shown and "wJalrSECRET" not in shown
    assert f"SUPERSET_PASSWORD={MASK}" in shown
    assert "hunter2" not in repr(s)


@pytest.mark.parametrize(
    "expr", ["0 * * * *", "*/30 * * * *", "0 */4 * * *", "15 2 1 jan-mar mon,fri", "@daily"]
)
def test_valid_cron_expressions(expr: str) -> None:
    assert cron_problem(expr) is None


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("* * * *", "5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("0 24 * * *", "hour field `24`: `24` is outside 0-23"),
        ("*/0 * * * *", "minute field `*/0`: a step of 0"),
        ("0 0 5-1 * *", "day of month field `5-1`: range `5-1` runs backwards"),
        ("0 0 * foo *", "month field `foo`: "),
        ("@often", "`@often` is not a preset; use one of @annually, @daily, @hourly"),
    ],
)
def test_invalid_cron_expressions_say_which_field_and_why(expr: str, problem: str) -> None:
    found = cron_problem(expr)
    assert found is not None and found.startswith(problem)


def test_price_list_is_shown_as_it_is_written(tmp_path: Path) -> None:
    s = load_settings(
        env={"CDPFLOW_INSTANCE_HOURLY_PRICES": "m4.large=0.10, c5.2xlarge=0.34"}, home=tmp_path
    )
    assert s.instance_hourly_prices == {"m4.large": 0.10, "c5.2xlarge": 0.34}
    shown = dict((k, v) for k, v, _ in s.describe())
    assert shown["CDPFLOW_INSTANCE_HOURLY_PRICES"] == "m4.large=0.1,c5.2xlarge=0.34"


@pytest.mark.parametrize(
    ("yaml_text", "env", "key"),
    [
        ("CDPFLOW_SMTP_PASSWROD: SMTPpw-Zq81-secret\n", {}, "CDPFLOW_SMTP_PASSWROD"),  # a typo
        ("CDPFLOW_SMTP_PORT: SMTPpw-Zq81-secret\n", {}, "CDPFLOW_SMTP_PORT"),  # the wrong key
        ("", {"CDPFLOW_SMTP_PORT": "SMTPpw-Zq81-secret"}, "CDPFLOW_SMTP_PORT"),
    ],
)
def test_config_errors_never_show_a_value_that_may_be_a_secret(
    tmp_path: Path, yaml_text: str, env: dict[str, str], key: str
) -> None:
    (tmp_path / "cdpflow.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env, home=tmp_path)
    message = str(caught.value)
    assert key in message and "<18 characters, hidden>" in message
    assert "Zq81" not in message and "SMTPpw" not in message
    error = caught.value  # no chained error that a traceback would print carries it either
    assert error.__context__ is None or error.__suppress_context__
