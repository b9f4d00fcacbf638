from __future__ import annotations

import json
import stat

import pytest

from cdpflow.collector.auth import SourceRegistry, add_source, list_sources
from cdpflow.errors import TerminalError
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings


def test_a_source_gets_a_random_key_kept_only_in_the_secrets_file(settings: Settings) -> None:
    store = open_secrets(settings)
    key = add_source(store, "web")
    other = add_source(store, "ios")
    assert len(key) >= 32 and key != other
    assert list_sources(store) == ["ios", "web"]
    assert json.loads(store.path.read_text())["source:web"] == key
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_source_name_is_unique_and_plain(settings: Settings) -> None:
    store = open_secrets(settings)
    key = add_source(store, "web")
    with pytest.raises(TerminalError, match="`web` exists already"):
        add_source(store, "web")
    assert store.get("source:web") == key
    with pytest.raises(TerminalError, match="not allowed"):
        add_source(store, "../etc")


def test_keys_map_to_their_source_and_new_sources_are_seen_without_restart(
    settings: Settings,
) -> None:
    store = open_secrets(settings)
    web = add_source(store, "web")
    registry = SourceRegistry(store)
    assert registry.source_of(web) == "web"
    assert registry.source_of(web + "x") is None
    assert registry.source_of("") is None and registry.source_of(None) is None
    later = add_source(store, "later")
    assert registry.source_of(later) == "later"
