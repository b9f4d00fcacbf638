"""A shopify pipeline file: its keys checked at load, its default resources."""

from __future__ import annotations

import pytest
import yaml

from cdpflow.declared import DeclarationError
from cdpflow.elt.config import parse_pipeline


def _parse(tmp_path, text: str):
    return parse_pipeline("shop", tmp_path / "shop.yml", yaml.safe_load(text), tmp_path)


def test_a_shop_file_gets_customers_orders_products_and_a_default_token_secret(tmp_path):
    pipeline = _parse(tmp_path, "type: shopify\nshop: My-Shop.myshopify.com\n")
    assert pipeline.tables == ("shop__customers", "shop__orders", "shop__products")
    assert {r.name: (r.primary_key, r.cursor, r.deletes) for r in pipeline.resources} == {
        "customers": (("id",), "updated_at", None),  # Shopify reports no deleted customers
        "orders": (("id",), "updated_at", "_deleted"),
        "products": (("id",), "updated_at", "_deleted"),
    }
    assert pipeline.options == {
        "shop": "my-shop.myshopify.com",
        "token_secret": "shop_token",
        "api_base_url": "https://my-shop.myshopify.com",
    }


def test_listed_resources_keep_the_defaults_the_file_does_not_override(tmp_path):
    pipeline = _parse(
        tmp_path,
        "type: shopify\nshop: a.myshopify.com\nresources:\n  - orders\n"
        "  - {name: customers, cursor: created_at}\n",
    )
    assert pipeline.tables == ("shop__orders", "shop__customers")
    orders, customers = pipeline.resources
    assert (orders.primary_key, orders.cursor, orders.deletes, orders.role) == (
        ("id",), "updated_at", "_deleted", "orders",
    )  # fmt: skip
    assert (customers.primary_key, customers.cursor, customers.role) == (
        ("id",), "created_at", "customers",
    )  # fmt: skip
    # as a mapping too; a resource Shopify does not have still fails naming it
    mapped = _parse(tmp_path, "type: shopify\nshop: a.myshopify.com\nresources: {products: {}}\n")
    assert [(r.name, r.primary_key, r.role) for r in mapped.resources] == [
        ("products", ("id",), None)
    ]
    with pytest.raises(DeclarationError, match=r"`resources\[0\]`"):
        _parse(tmp_path, "type: shopify\nshop: a.myshopify.com\nresources: [carts]\n")


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("type: shopify\nshop: my-shop.com\n", "shop", "my-shop.myshopify.com"),
        ("type: shopify\nshop: a.myshopify.com\ntoken_secret: shpat_X1\n", "token_secret", "name"),
        ("type: shopify\nshop: a.myshopify.com\napi_base_url: ftp://x\n", "api_base_url", "http"),
        (
            "type: shopify\nshop: a.myshopify.com\nresources: [{name: carts, primary_key: id}]\n",
            "resources[0].name",
            "one of customers, orders, products",
        ),
        (
            "type: shopify\nshop: a.myshopify.com\n"
            "resources: [{name: customers, primary_key: id, deletes: gone}]\n",
            "resources[0].deletes",
            "Shopify reports no deleted customers",
        ),
    ],
)
def test_a_bad_shopify_key_names_the_key(tmp_path, text: str, key: str, says: str):
    with pytest.raises(DeclarationError) as err:
        _parse(tmp_path, text)
    assert f"`{key}`" in str(err.value) and says in str(err.value)
    assert "shpat_X1" not in str(err.value)  # a token pasted as the secret's name stays hidden
