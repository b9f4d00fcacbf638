"""`airbyte` pipeline files: the connection, the URL and the credentials' secret names are
checked at load, naming the file and the key."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cdpflow.declared import DeclarationError
from cdpflow.elt.airbyte import unwrap_records
from cdpflow.elt.config import load_pipeline

CONNECTION = "3f6c2a1e-8b7d-4c5e-9f0a-1b2c3d4e5f60"
STREAM = "resources:\n  customers: {primary_key: id, path: /data/customers/*.jsonl}\n"


def _load(settings, text: str):
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "warehouse.yml").write_text(text)
    return load_pipeline(settings, "warehouse")


def test_an_airbyte_pipeline_keeps_its_connection_url_and_secret_names(settings):
    pipeline = _load(
        settings,
        f"type: airbyte\nconnection_id: {CONNECTION.upper()}\n"
        "url: http://airbyte:8000/api/public/v1/\n"
        "client_id_secret: wh_id\nclient_secret_secret: wh_secret\n" + STREAM,
    )
    assert pipeline.options == {
        "connection_id": CONNECTION,
        "url": "http://airbyte:8000/api/public/v1",
        "client_id_secret": "wh_id",
        "client_secret_secret": "wh_secret",
    }
    [customers] = pipeline.resources
    assert customers.options == {"path": "/data/customers/*.jsonl", "format": "jsonl"}


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("type: airbyte\nconnection_id: warehouse\n" + STREAM, "connection_id", "got 'warehouse'"),
        (
            f"type: airbyte\nconnection_id: {CONNECTION}\nurl: airbyte:8000\n" + STREAM,
            "url",
            "got 'airbyte:8000'",
        ),
        (
            f"type: airbyte\nconnection_id: {CONNECTION}\nclient_id_secret: wh_id\n" + STREAM,
            "client_secret_secret",
            "is needed with `client_id_secret`",
        ),
        (
            f"type: airbyte\nconnection_id: {CONNECTION}\nclient_id_secret: wh_id\n"
            "client_secret_secret: 'hunter2 plain'\n" + STREAM,
            "client_secret_secret",
            "must name a secret",
        ),
        (
            f"type: airbyte\nconnection_id: {CONNECTION}\n"
            "resources:\n  customers: {primary_key: id}\n",
            "resources[0].path",
            "where the connection's destination writes this stream",
        ),
    ],
)
def test_a_bad_airbyte_key_names_the_file_and_the_key(settings, text, key, says):
    with pytest.raises(DeclarationError) as err:
        _load(settings, text)
    assert err.value.key == key
    assert says in err.value.problem and "warehouse.yml" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_a_nested_airbyte_record_becomes_columns_beside_the_metadata():
    rows = pa.table(
        {
            "_airbyte_raw_id": ["r1"],
            "_airbyte_data": pa.array([{"id": 1, "email": "a@x.io"}]),
        }
    )
    assert unwrap_records(rows).to_pylist() == [
        {"_airbyte_raw_id": "r1", "id": 1, "email": "a@x.io"}
    ]
