"""Destination files: every key checked at read, naming the file and the key; the CLI writes
them, lists them and removes them with their generated DAG files."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cdpflow.activation.dag import dag_spec
from cdpflow.activation.destination import load_destination
from cdpflow.cli.main import cli
from cdpflow.dag_spec import Updates
from cdpflow.declared import DeclarationError
from cdpflow.settings import Settings


def write(home: Path, text: str) -> Path:
    path = home / "destinations" / "crm-hook.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD = "type: webhook\nsegment: lapsed\nurl: https://crm.example/hooks/cdp\nsecret: hook_key\n"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("type: klavio\nsegment: a\n", "type", "is `klavio`; use one of webhook"),
        (GOOD + "mode: sync\n", "mode", "use mirror (leavers removed) or upsert"),
        (GOOD + "max_removal_share: 2\n", "max_removal_share", "between 0 and 1"),
        (GOOD + "schedule: every day\n", "schedule", "cron expression"),
        (GOOD + "fields: [email, age]\n", "fields", "some of email, phone"),
        (GOOD + "segmnet: x\n", "segmnet", "is not a key of a webhook destination"),
        (GOOD.replace("secret: hook_key\n", ""), "secret", "cdpflow secrets set NAME"),
        (GOOD.replace("https://crm", "crm"), "url", "http:// or https://"),
    ],
)
def test_a_bad_key_fails_naming_the_file_and_the_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(DeclarationError) as err:
        load_destination(Settings(home=tmp_path), "crm-hook")
    assert err.value.key == key and err.value.path == path
    assert problem in err.value.problem


def test_the_dag_runs_after_segment_members_updates_or_on_its_own_schedule(tmp_path):
    settings = Settings(home=tmp_path)
    write(tmp_path, GOOD)
    spec = dag_spec(settings, "crm-hook")
    assert spec.schedule == Updates(("segment_members",))
    assert spec.produces == ("activation_runs", "activation_log")
    write(tmp_path, GOOD + "schedule: '@hourly'\n")
    schedule = dag_spec(settings, "crm-hook").schedule
    assert not isinstance(schedule, Updates) and schedule(settings) == "@hourly"


def test_add_list_remove_keep_files_and_dag_files_in_step(tmp_path):
    env = {"CDPFLOW_HOME": str(tmp_path)}
    runner = CliRunner()
    added = runner.invoke(
        cli,
        ["destination", "add", "crm-hook", "--type", "webhook", "--segment", "lapsed",
         "--url", "https://crm.example/hooks/cdp", "--secret", "hook_key"],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "cdpflow secrets set hook_key" in added.output
    dag_file = tmp_path / "airflow" / "dags" / "declared" / "activation_crm-hook.py"
    assert dag_file.exists()
    again = runner.invoke(
        cli, ["destination", "add", "crm-hook", "--type", "webhook", "--segment", "x"], env=env
    )
    assert again.exit_code == 1 and "exists" in again.output
    bad = runner.invoke(
        cli,
        ["destination", "add", "other", "--type", "webhook", "--segment", "lapsed",
         "--secret", "k"],
        env=env,
    )  # fmt: skip
    assert bad.exit_code == 1 and "(option --url); nothing written" in bad.output
    assert not (tmp_path / "destinations" / "other.yml").exists()

    listed = runner.invoke(cli, ["destination", "list"], env=env)
    assert listed.output.splitlines()[1].split() == [
        "crm-hook", "webhook", "lapsed", "mirror", "never", "0"
    ]  # fmt: skip
    removed = runner.invoke(cli, ["destination", "remove", "crm-hook"], env=env)
    assert removed.exit_code == 0 and "was not touched" in removed.output
    assert not dag_file.exists()
