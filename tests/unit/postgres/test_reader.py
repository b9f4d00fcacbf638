"""The Arrow type a PostgreSQL result column lands as (the boundaries the integration test's one
table does not reach), and a server that does not answer, named without the password."""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa
import pytest
from psycopg.postgres import types
from support.ports import free_port

from cdpflow.postgres.reader import (
    PostgresReader,
    PostgresUnreachableError,
    _schema,
    arrow_type,
)


def oid(name: str, array: bool = False) -> int:
    info = types.get(name)
    assert info is not None
    return info.array_oid if array else info.oid


class Column(NamedTuple):
    """What a cursor's description says of a column (psycopg's Column has these fields)."""

    name: str
    type_code: int
    precision: int | None = None
    scale: int | None = None


@pytest.mark.parametrize(
    ("precision", "scale", "arrow"),
    [
        (38, 10, pa.decimal128(38, 10)),  # the widest decimal128
        (1, None, pa.decimal128(1, 0)),
        (39, 2, None),  # wider than decimal128: its text
        (None, None, None),  # numeric without a precision: any size, so its text
        (0, 0, None),
    ],
)
def test_numeric_is_a_decimal_up_to_38_digits(
    precision: int | None, scale: int | None, arrow: pa.DataType | None
) -> None:
    assert arrow_type(oid("numeric"), precision, scale) == arrow


def test_listed_types_their_arrays_and_the_rest_as_text() -> None:
    assert arrow_type(oid("int8"), None, None) == pa.int64()
    assert arrow_type(oid("timestamptz"), None, None) == pa.timestamp("us", tz="UTC")
    assert arrow_type(oid("int4", array=True), None, None) == pa.list_(pa.int32())
    assert arrow_type(oid("inet"), None, None) is None
    assert arrow_type(oid("numeric", array=True), 10, 2) is None


def test_a_result_schema_keeps_column_order_and_lands_unknown_types_as_strings() -> None:
    description = [
        Column("id", oid("int8")),
        Column("amount", oid("numeric"), 12, 3),
        Column("ip", oid("inet")),
        Column("tags", oid("text", array=True)),
    ]
    assert _schema(description) == pa.schema(
        [
            ("id", pa.int64()),
            ("amount", pa.decimal128(12, 3)),
            ("ip", pa.string()),
            ("tags", pa.list_(pa.string())),
        ]
    )
    assert _schema(None) == pa.schema([])


def test_a_server_that_does_not_answer_is_transient_and_hides_the_password() -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://crm_reader:Url5ecretPass@127.0.0.1:{port}/crm"
    with pytest.raises(PostgresUnreachableError) as failure:
        PostgresReader.connect(
            url, "Fi1eSecretPass", source="Pipeline `crm`", fix="check the url", connect_timeout=2
        )
    message = str(failure.value)
    assert message.startswith(
        "Pipeline `crm`: could not connect to PostgreSQL at "
        f"`postgresql://crm_reader:********@127.0.0.1:{port}/crm`: "
    )
    assert message.endswith("Nothing was committed; the run can be retried.")
    assert "Url5ecretPass" not in message and "Fi1eSecretPass" not in message
