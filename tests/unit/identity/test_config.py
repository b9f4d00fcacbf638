from __future__ import annotations

from pathlib import Path

import pytest

from cdpflow.errors import ConfigError
from cdpflow.identity.config import load_identity_config
from cdpflow.settings import load_settings


def test_the_default_mapping_reads_the_sample_shop_export(tmp_path: Path) -> None:
    config = load_identity_config(load_settings(env={}, home=tmp_path))
    assert [s.name for s in config.sources] == ["shop_customers", "shop_orders"]
    customers = config.sources[0]
    assert customers.path == tmp_path.resolve() / "imports/shop/customers.csv"
    assert customers.columns["customer_id"] == ("shop_customer_id", "user_id")
    assert config.map_type("Shopify") == "shop_customer_id"
    assert config.map_type("HubSpot CRM") == "hubspot_crm"
    assert config.cap_for("anonymous_id") is None and config.cap_for("gclid") is None
    assert config.cap_for("user_id") == 10 and config.cap_for("shop_customer_id") == 10


def test_a_mapping_file_and_settings_set_sources_caps_and_blocklist(tmp_path: Path) -> None:
    (tmp_path / "identity.yaml").write_text(
        "sources:\n"
        "  - {name: crm, path: /data/crm/*.parquet, columns: {crm_id: crm_contact_id}}\n"
        "caps: {email: 3, user_id: null}\n"
        "blocklist: [guest@shop.example]\n"
    )
    env = {"CDPFLOW_ID_MAX_LINKS": "25", "CDPFLOW_ID_BLOCKLIST": "n/a, 12345",
           "CDPFLOW_ID_CLICK_IDS": "gclid"}  # fmt: skip
    config = load_identity_config(load_settings(env=env, home=tmp_path))
    assert config.sources[0].path == Path("/data/crm/*.parquet")
    assert config.cap_for("email") == 3 and config.cap_for("user_id") is None
    assert config.cap_for("phone") == 25
    assert config.blocklist == {"guest@shop.example", "n/a", "12345"}
    assert config.click_ids == ("gclid",)


def test_unknown_click_ids_and_bad_caps_fail_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CDPFLOW_ID_CLICK_IDS"):
        load_settings(env={"CDPFLOW_ID_CLICK_IDS": "gclid,utm"}, home=tmp_path)
    (tmp_path / "identity.yaml").write_text("caps: {email: 0}\n")
    with pytest.raises(ConfigError, match=r"caps\.email"):
        load_identity_config(load_settings(env={}, home=tmp_path))
    (tmp_path / "identity.yaml").write_text("source: []\n")
    with pytest.raises(ConfigError, match="identity mapping: source"):
        load_identity_config(load_settings(env={}, home=tmp_path))
