"""`cdpflow pipeline add|list|remove`: files written from flags, their DAGs, and their standing."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from cdpflow.cli.main import cli
from cdpflow.cli.pipeline_cmd import pipeline_file


def _cdpflow(home: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, env={"CDPFLOW_HOME": str(home)})


def _customers(home: Path, name: str, text: str) -> None:
    folder = home / "imports" / "shop"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def test_add_run_list_remove_a_files_pipeline(tmp_path: Path) -> None:
    _customers(tmp_path, "customers-1.csv", "customer_id,email\nc1,a@x.io\nc2,b@x.io\n")
    added = _cdpflow(
        tmp_path, "pipeline", "add", "shop", "--type", "files", "--schedule", "0 4 * * *",
        "--path", "imports/shop/customers-*.csv", "--primary-key", "customer_id",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "DAG elt_shop (tables shop__customers)" in added.output
    assert yaml.safe_load((tmp_path / "pipelines" / "shop.yml").read_text()) == {
        "type": "files",
        "schedule": "0 4 * * *",
        "resources": {
            "customers": {"path": "imports/shop/customers-*.csv", "primary_key": "customer_id"}
        },
    }
    dag_file = tmp_path / "airflow" / "dags" / "declared" / "elt_shop.py"
    assert dag_file.exists()

    listed = _cdpflow(tmp_path, "pipeline", "list")
    assert listed.output.splitlines()[1].split() == ["shop", "files", "0", "4", "*", "*", "*",
                                                     "never", "0", "not", "synced"]  # fmt: skip
    assert _cdpflow(tmp_path, "run", "elt_shop").exit_code == 0
    listed = _cdpflow(tmp_path, "pipeline", "list").output.splitlines()
    assert listed[0].split() == ["NAME", "TYPE", "SCHEDULE", "LAST", "RUN", "ROWS", "STATE"]
    assert listed[1].startswith("shop") and listed[1].endswith("  2     1 file read")

    removed = _cdpflow(tmp_path, "pipeline", "remove", "shop")
    assert removed.exit_code == 0, removed.output
    assert not (tmp_path / "pipelines" / "shop.yml").exists() and not dag_file.exists()
    assert "Its tables stay in the lake (shop__customers)" in removed.output
    assert "No pipelines in" in _cdpflow(tmp_path, "pipeline", "list").output
    assert "shop__customers" in _cdpflow(tmp_path, "tables").output


def test_a_broken_file_is_listed_as_broken_with_its_problem(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "pos.yml").write_text("type: files\nresources:\n  - {name: sales, path: a.csv}\n")
    (folder / "Bad Name.yml").write_text("type: files\n")
    listed = _cdpflow(tmp_path, "pipeline", "list")
    assert listed.exit_code == 0, listed.output
    rows = listed.output.splitlines()
    pos = next(r for r in rows if r.startswith("pos"))
    assert "broken" in pos and "`resources[0].primary_key`: must be a column name" in pos
    assert any(r.startswith("Bad Name") and "not a pipeline name" in r for r in rows)


def test_a_bad_flag_value_names_the_option_and_writes_nothing(tmp_path: Path) -> None:
    cases = [
        (["--path", "a.txt", "--primary-key", "id"], "`resources[0].format`", "--format"),
        (["--path", "a.csv", "--primary-key", "id", "--schedule", "daily"], "`schedule`",
         "--schedule"),
        (["--path", "a.csv"], "`resources[0].primary_key`", "--primary-key"),
        (["--path", "a.csv", "--primary-key", "id", "--resource", "A B"], "`resources[0].name`",
         "--resource"),
    ]  # fmt: skip
    for flags, key, option in cases:
        failed = _cdpflow(tmp_path, "pipeline", "add", "shop", "--type", "files", *flags)
        assert failed.exit_code == 1, failed.output
        assert key in failed.output and f"(option {option}); nothing written" in failed.output
    refused = _cdpflow(
        tmp_path, "pipeline", "add", "crm", "--type", "postgres", "--table", "public.contacts",
        "--primary-key", "id", "--url", "postgresql://crm:hunter2@db/crm",
    )  # fmt: skip
    assert refused.exit_code == 1 and "must not hold a password" in refused.output
    assert "(option --url)" in refused.output and "hunter2" not in refused.output
    bad_name = _cdpflow(tmp_path, "pipeline", "add", "My Shop", "--type", "files")
    assert bad_name.exit_code == 2 and "lower-case letters" in bad_name.output
    assert not (tmp_path / "pipelines").exists()


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    flags = ["pipeline", "add", "shop", "--type", "files", "--path", "a.csv", "--primary-key"]
    assert _cdpflow(tmp_path, *flags, "id").exit_code == 0
    again = _cdpflow(tmp_path, *flags, "customer_id")
    assert again.exit_code == 1 and "exists; edit it, or pass --force" in again.output
    assert _cdpflow(tmp_path, *flags, "customer_id", "--force").exit_code == 0
    assert "primary_key: customer_id" in (tmp_path / "pipelines" / "shop.yml").read_text()


def test_a_named_secret_missing_from_the_store_is_asked_for_stored_and_never_printed(
    tmp_path: Path,
) -> None:
    added = _cdpflow(
        tmp_path, "pipeline", "add", "crm", "--type", "postgres", "--url",
        "postgresql://crm@db.internal/crm", "--table", "public.contacts", "--primary-key", "id",
        "--cursor", "updated_at", "--password-secret", "crm_pw", input="pw-value-42\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "pw-value-42" not in added.output
    assert "Stored secret `crm_pw` (11 characters)" in added.output
    assert json.loads((tmp_path / "secrets.json").read_text())["crm_pw"] == "pw-value-42"
    text = (tmp_path / "pipelines" / "crm.yml").read_text()
    assert "pw-value-42" not in text and "password_secret: crm_pw" in text
    # stored already: not asked again
    again = _cdpflow(
        tmp_path, "pipeline", "add", "crm2", "--type", "postgres", "--url",
        "postgresql://crm@db.internal/crm", "--table", "public.deals", "--primary-key", "id",
        "--password-secret", "crm_pw", input="",
    )  # fmt: skip
    assert again.exit_code == 0 and "Stored secret" not in again.output
    empty = _cdpflow(
        tmp_path, "pipeline", "add", "crm3", "--type", "postgres", "--url",
        "postgresql://crm@db.internal/crm", "--table", "public.deals", "--primary-key", "id",
        "--password-secret", "crm3_pw", input="\n",
    )  # fmt: skip
    assert empty.exit_code == 1 and "No value given for secret `crm3_pw`" in empty.output
    assert not (tmp_path / "pipelines" / "crm3.yml").exists()


def test_flags_map_to_the_agreed_file_keys_for_every_type() -> None:
    none = dict.fromkeys(
        ("schedule", "description", "url", "password_secret", "shop", "token_secret",
         "api_base_url", "connection_id", "client_id_secret", "client_secret_secret",
         "table", "query", "path", "format", "primary_key", "cursor", "resource")
    )  # fmt: skip
    assert pipeline_file("shop", "shopify", {**none, "shop": "my-shop.myshopify.com"}) == {
        "type": "shopify",
        "shop": "my-shop.myshopify.com",
        "token_secret": "shop_token",
    }
    assert pipeline_file(
        "shop", "shopify", {**none, "shop": "s.myshopify.com", "token_secret": "t"}
    ) == {"type": "shopify", "shop": "s.myshopify.com", "token_secret": "t"}
    warehouse = {
        **none,
        "connection_id": "3f6c",
        "url": "http://airbyte:8000/api/public/v1",
        "client_id_secret": "ab_id",
        "client_secret_secret": "ab_secret",
        "path": "s3://bucket/airbyte/users/*.parquet",
        "format": "parquet",
        "primary_key": "id",
    }
    assert pipeline_file("warehouse", "airbyte", warehouse) == {
        "type": "airbyte",
        "url": "http://airbyte:8000/api/public/v1",
        "connection_id": "3f6c",
        "client_id_secret": "ab_id",
        "client_secret_secret": "ab_secret",
        "resources": {
            "users": {
                "path": "s3://bucket/airbyte/users/*.parquet",
                "format": "parquet",
                "primary_key": "id",
            }
        },
    }
    crm = {**none, "url": "postgresql://crm@db/crm", "query": "SELECT 1 AS id",
           "primary_key": "a, b", "resource": "ones"}  # fmt: skip
    assert pipeline_file("crm", "postgres", crm)["resources"] == {
        "ones": {"query": "SELECT 1 AS id", "primary_key": ["a", "b"]}
    }
    exports = pipeline_file("exports", "files", {**none, "path": "s3://b/exports/*.parquet"})
    assert list(exports["resources"]) == ["exports"]
