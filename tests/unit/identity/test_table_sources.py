"""Identity mapping entries that name lake tables (`table:`), and the entries shopify pipelines
bring: parsed, checked, and left to the user's mapping where it names the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdpflow.elt.config import Pipeline, Resource
from cdpflow.elt.identity_sources import with_pipeline_sources
from cdpflow.errors import ConfigError
from cdpflow.identity.config import load_identity_config
from cdpflow.settings import load_settings


def _config(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "identity.yaml").write_text(text)
    return load_identity_config(load_settings(env={}, home=tmp_path))


def test_a_table_source_names_a_lake_table_with_the_same_column_mapping(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "sources:\n"
        "  - table: shop__customers\n"
        "    seen_at: created_at\n"
        "    columns: {id: [shop_customer_id, user_id], email: email}\n"
        "  - {name: crm, table: crm__contacts, columns: {contact_id: crm_contact_id}}\n"
        "  - {path: imports/pos.csv, columns: {card: loyalty_card}}\n",
    )
    customers, crm, pos = config.sources
    assert (customers.name, customers.table, customers.path) == (
        "shop__customers", "shop__customers", None,
    )  # fmt: skip
    assert customers.columns == {"id": ("shop_customer_id", "user_id"), "email": ("email",)}
    assert customers.seen_at == "created_at"
    assert (crm.name, crm.table) == ("crm", "crm__contacts")
    assert pos.table is None and pos.path == tmp_path.resolve() / "imports/pos.csv"


@pytest.mark.parametrize(
    ("entry", "key", "says"),
    [
        (
            "{table: shop__customers, path: a.csv, columns: {id: x}}",
            r"sources\[0\]",
            "exactly one of `path`",
        ),
        ("{name: nothing, columns: {id: x}}", r"sources\[0\]", "exactly one of `path`"),
        ("{table: Shop Customers, columns: {id: x}}", r"sources\[0\]\.table", "lake table name"),
        ("{table: shop__customers}", r"sources\[0\]", "`columns`"),
        ("{table: shop__customers, columns: {id: []}}", r"sources\[0\]\.columns\.id", "a list"),
        ("{table: shop__customers, columns: {id: Email}}", r"columns\.id", "identifier type"),
        ("{table: t, colums: {id: x}, columns: {id: x}}", r"sources\[0\]\.colums", "one of name"),
    ],
)
def test_a_bad_table_entry_fails_naming_it(tmp_path: Path, entry: str, key: str, says: str):
    with pytest.raises(ConfigError, match=key) as err:
        _config(tmp_path, f"sources:\n  - {entry}\n")
    assert says in str(err.value)


def test_two_sources_with_one_name_fail(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="each source named once"):
        _config(
            tmp_path,
            "sources:\n  - {table: a__b, columns: {id: x}}\n  - {table: a__b, columns: {id: y}}\n",
        )


def _shopify(name: str, *resources: str) -> Pipeline:
    return Pipeline(
        name,
        Path(f"/home/pipelines/{name}.yml"),
        "shopify",
        "@daily",
        tuple(Resource(r, ("id",)) for r in resources),
    )


def test_a_shopify_pipeline_adds_its_customers_and_orders_unless_the_mapping_names_them(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, "sources:\n  - {table: shop__orders, columns: {email: email}}\n")
    shop = _shopify("shop", "customers", "orders", "products")
    merged = with_pipeline_sources(config, [shop])
    by_table = {s.table: s for s in merged.sources}
    assert set(by_table) == {"shop__customers", "shop__orders"}  # products say nothing
    assert by_table["shop__orders"].columns == {"email": ("email",)}  # the user's entry
    assert by_table["shop__customers"].columns == {
        "id": ("shopify_customer_id",), "email": ("email",), "phone": ("phone",),
    }  # fmt: skip
    assert by_table["shop__customers"].seen_at == "created_at"
    assert merged.map_type("shopify") == "shopify_customer_id"

    outlet = _shopify("outlet", "orders")
    [orders] = with_pipeline_sources(_config(tmp_path, "sources: []\n"), [outlet]).sources
    assert orders.columns == {"email": ("email",), "customer_id": ("shopify_customer_id",)}


def test_a_mapping_that_maps_the_shopify_provider_keeps_it(tmp_path: Path) -> None:
    config = _config(tmp_path, "map_providers: {shopify: shop_customer_id}\n")
    merged = with_pipeline_sources(config, [_shopify("shop", "customers")])
    assert merged.map_type("shopify") == "shop_customer_id"
    files = Pipeline("pos", Path("/p/pos.yml"), "files", "@daily", (Resource("orders", ("id",)),))
    assert with_pipeline_sources(config, [files]) is config  # only shopify brings entries
