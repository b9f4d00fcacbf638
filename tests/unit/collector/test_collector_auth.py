from __future__ import annotations

import json
import stat
import time

import pytest

from cdpflow.collector.auth import (
    SourceRegistry,
    add_source,
    list_sources,
    remove_source,
    rotate_source,
)
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


def test_a_removed_key_is_refused_from_the_next_request(settings: Settings) -> None:
    store = open_secrets(settings)
    web, ios = add_source(store, "web"), add_source(store, "ios")
    registry = SourceRegistry(store)
    assert registry.source_of(web) == "web"
    remove_source(store, "web")
    assert registry.source_of(web) is None  # no unknown key needed to notice
    assert registry.source_of(ios) == "ios" and list_sources(store) == ["ios"]
    with pytest.raises(TerminalError, match="no source `web`"):
        remove_source(store, "web")


def test_a_new_key_works_at_once_even_right_after_an_unknown_one(settings: Settings) -> None:
    store = open_secrets(settings)
    registry = SourceRegistry(store)
    assert registry.source_of("not-a-key-at-all-but-long") is None
    assert registry.source_of(add_source(store, "later")) == "later"


def test_a_rotated_key_keeps_working_for_the_grace_period_only(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_secrets(settings)
    old = add_source(store, "web")
    registry = SourceRegistry(store)
    new = rotate_source(store, "web", grace_seconds=3600)
    assert new != old and registry.source_of(new) == "web"
    assert registry.source_of(old) == "web" and list_sources(store) == ["web"]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3601)
    assert registry.source_of(old) is None and registry.source_of(new) == "web"
    monkeypatch.setattr(time, "time", real_time)
    newest = rotate_source(store, "web", grace_seconds=0)
    assert registry.source_of(new) is None and registry.source_of(newest) == "web"
    remove_source(store, "web")
    assert json.loads(store.path.read_text()) == {}  # the previous key went with it
