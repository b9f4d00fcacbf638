"""`role:` on a pipeline resource: its standard fields default to Shopify's column names, a
`fields:` mapping overrides them, and a bad role or field fails at load naming it."""

from __future__ import annotations

import pytest

from cdpflow.declared import DeclarationError
from cdpflow.elt.config import load_pipeline, role_tables
from cdpflow.roles import ROLES
from cdpflow.settings import Settings


def _write(settings: Settings, name: str, text: str) -> None:
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(text)


POS = (
    "type: files\nresources:\n"
    "  sales:\n    primary_key: ticket\n    path: exports/sales.csv\n    role: orders\n"
    "    fields: {order_id: ticket, total: amount, ordered_at: sold_at}\n"
    "  members:\n    primary_key: id\n    path: exports/members.csv\n    role: customers\n"
    "  stock:\n    primary_key: sku\n    path: exports/stock.csv\n"
)


def test_roles_take_shopify_column_names_unless_fields_say_otherwise(settings: Settings):
    _write(settings, "pos", POS)
    sales, members, stock = load_pipeline(settings, "pos").resources
    assert sales.role == "orders" and members.role == "customers" and stock.role is None
    assert sales.fields["order_id"] == "ticket" and sales.fields["total"] == "amount"
    assert sales.fields["refunded"] == "total_refunded"
    assert sales.fields["status"] == "financial_status"
    assert members.fields == ROLES["customers"]
    assert members.fields["country"] == "country_code"
    assert stock.fields == {}
    assert role_tables(settings, "orders") == [("pos__sales", sales.fields)]
    assert [t for t, _ in role_tables(settings, "customers")] == ["pos__members"]


def test_a_broken_pipeline_file_is_left_out_of_the_role_tables(settings: Settings):
    _write(settings, "pos", POS)
    _write(settings, "bad", "type: files\nresources: nope\n")
    assert [t for t, _ in role_tables(settings, "orders")] == ["pos__sales"]


@pytest.mark.parametrize(
    ("extra", "key", "says"),
    [
        ("role: order", "resources[0].role", "must be one of customers, orders, got 'order'"),
        ("fields: {order_id: n}", "resources[0].fields", "needs a `role`"),
        ("role: orders\n    fields: [n]", "resources[0].fields", "must map orders fields"),
        (
            "role: orders\n    fields: {price: p}",
            "resources[0].fields.price",
            "not a field of role orders; fields: order_id, customer_id",
        ),
        ("role: customers\n    fields: {email: 3}", "resources[0].fields.email", "got 3"),
    ],
)
def test_a_bad_role_or_field_fails_naming_the_key(settings, extra, key, says):
    _write(
        settings,
        "pos",
        f"type: files\nresources:\n  sales:\n    primary_key: n\n    path: a.csv\n    {extra}\n",
    )
    with pytest.raises(DeclarationError) as err:
        load_pipeline(settings, "pos")
    assert err.value.key == key and says in str(err.value)
