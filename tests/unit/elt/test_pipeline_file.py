"""Pipeline files: a bad key fails at load naming the file, the key and the value."""

from __future__ import annotations

import pytest

from cdpflow.declared import DeclarationError
from cdpflow.elt.config import load_pipeline
from cdpflow.settings import Settings


def _write(settings: Settings, name: str, text: str) -> None:
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(text)


def test_a_files_pipeline_reads_its_resources_with_defaults(settings):
    _write(
        settings,
        "shop",
        "type: files\nresources:\n  customers:\n    primary_key: customer_id\n"
        "    path: imports/shop/customers*.csv\n    cursor: updated_at\n"
        "    columns: {customer_id: string, updated_at: timestamp}\n",
    )
    pipeline = load_pipeline(settings, "shop")
    assert pipeline.schedule == "@daily"
    assert pipeline.tables == ("shop__customers",)
    (customers,) = pipeline.resources
    assert customers.primary_key == ("customer_id",)
    assert customers.options == {
        "path": str(settings.home / "imports/shop/customers*.csv"),
        "format": "csv",
    }


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("type: ftp\nresources: []\n", "type", "must be one of airbyte, files, got 'ftp'"),
        (
            "type: files\nschedul: '@daily'\n",
            "schedul",
            "unknown key for type files; allowed: description, resources, schedule, type",
        ),
        ("type: files\nschedule: every day\n", "schedule", "got 'every day'"),
        ("type: files\n", "resources", "must be a non-empty list"),
        (
            "type: files\nresources:\n  - {name: c, path: a.csv}\n",
            "resources[0].primary_key",
            "a list of them, got None",
        ),
        (
            "type: files\nresources:\n  - {name: c, primary_key: id, path: a.txt}\n",
            "resources[0].format",
            "got None",
        ),
        (
            "type: files\nresources:\n  - {name: c, primary_key: id}\n",
            "resources[0].path",
            "needs a path or glob",
        ),
        (
            "type: files\nresources:\n  - {name: Big__c, primary_key: id, path: a.csv}\n",
            "resources[0].name",
            "got 'Big__c'",
        ),
        (
            "type: files\nresources:\n"
            "  - {name: c, primary_key: id, path: a.csv, columns: {id: text}}\n",
            "resources[0].columns.id",
            "must be one of string, integer, number, boolean, timestamp, got 'text'",
        ),
        (
            "type: files\nresources:\n  - {name: c, primary_key: id, path: a.csv, url: x}\n",
            "resources[0].url",
            "unknown key",
        ),
        (
            "type: files\nresources:\n  - {name: c, primary_key: id, path: a.csv}\n"
            "  - {name: c, primary_key: id, path: b.csv}\n",
            "resources",
            "resource `c` is declared twice",
        ),
    ],
)
def test_a_bad_key_names_the_file_the_key_and_the_value(settings, text, key, says):
    _write(settings, "shop", text)
    with pytest.raises(DeclarationError) as err:
        load_pipeline(settings, "shop")
    assert err.value.key == key
    assert err.value.path == settings.home / "pipelines" / "shop.yml"
    assert says in str(err.value)
    assert str(err.value).startswith(f"`{key}` in {err.value.path}: ")


def test_the_dag_of_a_file_has_its_schedule_and_updates_its_tables(settings):
    from cdpflow.elt.dag import dag_spec

    _write(
        settings,
        "shop",
        "type: files\nschedule: '0 3 * * *'\nresources:\n"
        "  - {name: customers, primary_key: id, path: c.csv}\n"
        "  - {name: orders, primary_key: order_id, path: o.parquet}\n",
    )
    spec = dag_spec(settings, "shop")
    assert callable(spec.schedule) and spec.schedule(settings) == "0 3 * * *"
    assert spec.produces == ("shop__customers", "shop__orders")
    _write(settings, "shop", "type: files\nresources: {customers: {path: c.csv}}\n")
    with pytest.raises(DeclarationError, match=r"`resources\[0\]\.primary_key` in .*shop\.yml"):
        dag_spec(settings, "shop")
