"""id_stitching_incremental end to end: events landed, flattened, stitched into people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import pytest
from support.identity import T, seg
from support.lake import LATER, lake_query

from cdpflow.engine import open_engine
from cdpflow.identity.ids import person_id
from cdpflow.jobs import (
    cleanup_temp_tables,
    compression,
    events_incremental,
    id_stitching_incremental,
)
from cdpflow.lake.merge_on_read import base_files, delta_files
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.sample import SampleSpec, generate_events, generate_shop_export
from cdpflow.settings import Settings, load_settings


def _stitch(settings: Settings, **kwargs: object) -> id_stitching_incremental.IdStitchingResult:
    events_incremental.run(settings, now=LATER)
    return id_stitching_incremental.run(settings, now=LATER, **kwargs)  # type: ignore[arg-type]


def _people(query) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    rows = query("SELECT identifier_type, identifier_value, global_user_id FROM identities")
    return {(r["identifier_type"], r["identifier_value"]): r["global_user_id"] for r in rows}


def _identities(query) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [
        tuple(r.values())
        for r in query("SELECT * FROM identities ORDER BY identifier_type, identifier_value")
    ]


def test_a_shopper_on_two_devices_is_one_person_joined_to_every_event(
    settings, land, query
) -> None:
    land(
        [
            Received(T, "web", seg("p1", T, anonymousId="phone-1")),
            Received(
                T,
                "web",
                seg(
                    "i1",
                    T + timedelta(minutes=1),
                    type="identify",
                    anonymousId="phone-1",
                    userId="cus_000123",
                    traits={"email": " Jane@Shop.TEST ", "phone": "(415) 555-0123"},
                ),
            ),
            Received(T, "web", seg("p2", T + timedelta(minutes=2), anonymousId="laptop-1")),
            Received(
                T,
                "web",
                seg(
                    "a1",
                    T + timedelta(minutes=3),
                    type="alias",
                    previousId="laptop-1",
                    userId="cus_000123",
                ),
            ),
            Received(T, "web", seg("p3", T, anonymousId="stranger")),
        ]
    )
    result = _stitch(settings)
    assert result.core_files == 1 and result.people_in_scope == 2
    people = _people(query)
    jane = people[("anonymous_id", "phone-1")]
    assert jane == person_id("anonymous_id", "phone-1")  # her earliest identifier
    for key in [
        ("anonymous_id", "laptop-1"),
        ("user_id", "cus_000123"),
        ("email", "jane@shop.test"),
        ("phone", "+14155550123"),
    ]:
        assert people[key] == jane
    assert people[("anonymous_id", "stranger")] != jane
    unjoined = query(
        """SELECT count(*) AS n FROM core_events e LEFT JOIN identities i
           ON i.identifier_type = 'anonymous_id'
          AND i.identifier_value = coalesce(e.anonymous_id, e.previous_id)
           WHERE i.global_user_id IS NULL"""
    )
    assert unjoined == [{"n": 0}]
    edges = query("SELECT count(*) AS n FROM identity_edges")[0]["n"]
    assert edges == result.new_edges > 0


def test_blotout_map_ids_and_personas_stitch_to_the_shop_customer(settings, land, query) -> None:
    ms = int(T.timestamp() * 1000)
    payload = {
        "meta": {},
        "events": [
            {"mid": "b1", "evn": "sdk_start", "evt": ms, "userid": "bo-visitor"},
            {
                "mid": "b2",
                "evn": "map_id",
                "evt": ms + 1,
                "userid": "bo-visitor",
                "type": "codified",
                "additionalData": {"map_id": "cus_000777", "map_provider": "Shopify"},
            },
            {
                "mid": "b3",
                "evn": "map_id",
                "evt": ms + 2,
                "userid": "bo-visitor",
                "type": "codified",
                "additionalData": {"map_id": "hs-42", "map_provider": "hubspot"},
            },
        ],
    }
    land([Received(T, "blotout", payload)])
    _stitch(settings)
    people = _people(query)
    assert people[("shop_customer_id", "cus_000777")] == people[("anonymous_id", "bo-visitor")]
    assert people[("hubspot", "hs-42")] == people[("anonymous_id", "bo-visitor")]


def test_junk_and_shared_identifiers_do_not_merge_strangers(settings, land, query) -> None:
    kiosk = [
        Received(T, "web", seg(f"k{i}", T, anonymousId="kiosk", userId=f"cus_{i:06d}"))
        for i in range(12)  # one device, 12 logins: over the default cap of 10
    ]
    junk = [
        Received(T, "web", seg(f"j{i}", T, type="identify", anonymousId=f"v{i}", traits=t))
        for i, t in enumerate([{"email": "test@example.com"}, {"email": "TEST@example.com"}])
    ]
    land(kiosk + junk)
    result = _stitch(settings)
    people = _people(query)
    assert len({people[("user_id", f"cus_{i:06d}")] for i in range(12)}) == 12
    assert people[("anonymous_id", "v0")] != people[("anonymous_id", "v1")]
    conflicts = query(
        "SELECT identifier_type, identifier_value, reason, linked_type, linked_count, cap "
        "FROM identity_conflicts ORDER BY reason"
    )
    assert conflicts == [
        {
            "identifier_type": "email",
            "identifier_value": "test@example.com",
            "reason": "junk_value",
            "linked_type": None,
            "linked_count": 2,
            "cap": None,
        },
        {
            "identifier_type": "anonymous_id",
            "identifier_value": "kiosk",
            "reason": "too_many_links",
            "linked_type": "user_id",
            "linked_count": 12,
            "cap": 10,
        },
    ]
    assert result.held_out == 1 and result.junk_values == 1
    held = query("SELECT identifier_value FROM identities WHERE held_out")
    assert held == [{"identifier_value": "kiosk"}]


def test_a_later_run_reads_only_new_files_and_records_the_merge(settings, land, query) -> None:
    land(
        [
            Received(T, "web", seg("x1", T, anonymousId="a", userId="u-a")),
            Received(T, "web", seg("x2", T + timedelta(minutes=5), anonymousId="b", userId="u-b")),
        ]
    )
    _stitch(settings)
    first = _people(query)
    assert first[("user_id", "u-a")] != first[("user_id", "u-b")]

    later = T + timedelta(hours=3)
    land([Received(later, "web", seg("x3", later, anonymousId="b", userId="u-a"))])
    result = _stitch(settings)
    assert result.core_files == 1 and result.merges == 1
    assert result.identifiers_in_scope == 4  # the two people touched, not the whole graph
    people = _people(query)
    assert set(people.values()) == {first[("anonymous_id", "a")]}  # the earlier person's id
    merges = query("SELECT absorbed_id, surviving_id, reason, merged_at FROM identity_merges")
    assert merges == [
        {
            "absorbed_id": first[("anonymous_id", "b")],
            "surviving_id": first[("anonymous_id", "a")],
            "reason": "merge",
            "merged_at": LATER,
        }
    ]
    assert (
        id_stitching_incremental.run(settings, now=LATER).summary().endswith("nothing new to read.")
    )

    incremental = _identities(query)
    rebuilt = id_stitching_incremental.run(settings, now=LATER, full_rebuild=True)
    assert rebuilt.full_rebuild and _identities(query) == incremental


def _layers(settings: Settings) -> tuple[int, int]:
    """(base files, delta files) of the identities table."""
    snapshot = TableStore(Lake(settings.lake_url)).get("identities")
    return len(base_files(snapshot)), len(delta_files(snapshot))


def test_runs_write_only_what_changed_and_readers_see_one_row_per_identifier(
    settings, land, query, monkeypatch
) -> None:
    monkeypatch.setattr(id_stitching_incremental, "FOLD_FRACTION", 1.0)
    people = [seg(f"v{i}", T, anonymousId=f"dev-{i}", userId=f"u-{i}") for i in range(20)]
    land([Received(T, "web", m) for m in people])
    assert _stitch(settings).folded  # the first run writes the base
    later = T + timedelta(hours=2)
    for n, (device, login) in enumerate([("dev-new", "u-1"), ("dev-1", "u-2"), ("dev-3", "u-4")]):
        at = later + timedelta(hours=n)
        land([Received(at, "web", seg(f"m{n}", at, anonymousId=device, userId=login))])
        result = _stitch(settings)
        assert result.joined_by_new_links and not result.folded
        assert 0 < result.changed < result.identifiers_in_scope  # unchanged rows not written
    assert _layers(settings) == (1, 1)  # the base of the first run, one delta over it
    counts = query(
        """SELECT count(*) AS n, count(DISTINCT (identifier_type, identifier_value)) AS keys
           FROM identities"""
    )
    assert counts == [{"n": 41, "keys": 41}] and result.identities == 41
    people_now = _people(query)
    assert people_now[("anonymous_id", "dev-new")] == people_now[("user_id", "u-2")]
    assert people_now[("anonymous_id", "dev-1")] == person_id("anonymous_id", "dev-1")
    assert people_now[("anonymous_id", "dev-3")] != people_now[("anonymous_id", "dev-1")]

    incremental = _identities(query)
    rebuilt = id_stitching_incremental.run(settings, now=LATER, full_rebuild=True)
    assert rebuilt.folded and _layers(settings) == (1, 0)
    assert _identities(query) == incremental


def test_the_delta_is_folded_into_the_base_once_it_passes_its_share(
    settings, land, query, monkeypatch
) -> None:
    land([Received(T, "web", seg(f"v{i}", T, anonymousId=f"dev-{i}")) for i in range(10)])
    _stitch(settings)
    monkeypatch.setattr(id_stitching_incremental, "FOLD_FRACTION", 0.2)
    later = T + timedelta(hours=1)
    land([Received(later, "web", seg("w1", later, anonymousId="dev-1", userId="u-1"))])
    assert not _stitch(settings).folded  # 2 changed rows: within 20% of 10
    assert _layers(settings) == (1, 1)
    land([Received(later, "web", seg("w2", later, anonymousId="dev-2", userId="u-2"))])
    result = _stitch(settings)
    assert result.folded and _layers(settings) == (1, 0)  # 4 rows in the delta: past 20%
    assert query("SELECT count(*) AS n FROM identities") == [{"n": 12}] and result.identities == 12
    assert _people(query)[("user_id", "u-2")] == person_id("anonymous_id", "dev-2")


def _three_devices_and_a_login(settings: Settings, land, monkeypatch) -> datetime:  # type: ignore[no-untyped-def]
    """Two runs that leave identities as a base (three devices) and a delta (one login); returns
    the login's time."""
    monkeypatch.setattr(id_stitching_incremental, "FOLD_FRACTION", 1.0)
    land([Received(T, "web", seg(f"f{i}", T, anonymousId=f"dev-{i}")) for i in range(3)])
    _stitch(settings)
    later = T + timedelta(hours=1)
    land([Received(later, "web", seg("g1", later, anonymousId="dev-1", userId="u-1"))])
    _stitch(settings)
    return later


def test_compression_folds_the_delta_and_keeps_what_was_read(
    settings, land, query, monkeypatch
) -> None:
    _three_devices_and_a_login(settings, land, monkeypatch)
    before = _identities(query)
    tables = TableStore(Lake(settings.lake_url))
    read = tables.get("identities").properties["core_events_files"]
    assert _layers(settings) == (1, 1)
    folded = compression.run(settings, now=LATER).tables[-1]
    assert (folded.table, folded.files_before, folded.files_after) == ("identities", 2, 1)
    assert _layers(settings) == (1, 0) and _identities(query) == before
    assert tables.get("identities").properties["core_events_files"] == read


def test_a_replaced_delta_stays_readable_until_cleanup(settings, land, query, monkeypatch) -> None:
    """A reader still on the previous identities version (an analytics run that started before
    this stitching run committed) finds its files; cleanup removes them once they are old."""
    later = _three_devices_and_a_login(settings, land, monkeypatch)
    lake = Lake(settings.lake_url)
    tables = TableStore(lake)
    previous = tables.get("identities")
    land([Received(later, "web", seg("g2", later, anonymousId="dev-2", userId="u-2"))])
    _stitch(settings)
    current = {f.path for f in tables.get("identities").files}
    replaced = [f.path for f in delta_files(previous) if f.path not in current]
    assert replaced and all(lake.exists(f"identities/{path}") for path in replaced)
    cleanup_temp_tables.run(settings, now=datetime.now(UTC) + timedelta(days=30))
    assert not any(lake.exists(f"identities/{path}") for path in replaced)
    assert query("SELECT count(*) AS n FROM identities") == [{"n": 5}]


def test_the_delta_works_on_an_fsspec_lake(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(id_stitching_incremental, "FOLD_FRACTION", 1.0)
    url = "memory://cdpflow-identity-lake"  # stands in for s3://
    settings = load_settings(env={"CDPFLOW_LAKE_URL": url}, home=tmp_path)
    lake = Lake(settings.lake_url)
    try:
        batches = [
            [seg(f"d{i}", T, anonymousId=f"dev-{i}") for i in range(4)],
            [seg("l1", T + timedelta(hours=1), anonymousId="dev-1", userId="u-1")],
            [seg("l2", T + timedelta(hours=2), anonymousId="dev-2", userId="u-1")],
        ]
        for n, batch in enumerate(batches):
            with RawWriter(lake) as writer:
                for message in batch:
                    writer.write(Received(T + timedelta(hours=n), "web", message))
            _stitch(settings)
        assert _layers(settings) == (1, 1)  # the last run rewrote the delta it found
        people = _people(lambda sql: lake_query(settings, sql))
        assert len(people) == 5 and people[("anonymous_id", "dev-2")] == people[("user_id", "u-1")]
        assert people[("user_id", "u-1")] == person_id("anonymous_id", "dev-1")
        assert not (tmp_path / "lake").exists()
    finally:
        fsspec.filesystem("memory").rm("/cdpflow-identity-lake", recursive=True)


def _sample(settings: Settings, land, spec: SampleSpec) -> None:  # type: ignore[no-untyped-def]
    land(Received(m.received_at, m.source, m.message) for m in generate_events(spec))
    generate_shop_export(spec, settings.home / "imports" / "shop")


def test_the_sample_shop_export_stitches_to_its_online_visitors(settings, land, query) -> None:
    spec = SampleSpec(days=3, visitors=250, seed=11, end=datetime(2026, 11, 20, tzinfo=UTC))
    _sample(settings, land, spec)
    result = _stitch(settings)
    assert result.offline_files == 2
    # Every online login (user_id) is in the same person as the shop record of that customer,
    # and every email typed online is in the person of the shop customer with that email.
    unmatched = query(
        """WITH online AS (
             SELECT DISTINCT 'user_id' AS t, user_id AS v FROM core_events WHERE user_id IS NOT NULL
             UNION SELECT DISTINCT 'email', email FROM core_events WHERE email IS NOT NULL)
           SELECT o.* FROM online o
           JOIN identities i ON i.identifier_type = o.t AND i.identifier_value = o.v
           WHERE NOT EXISTS (
             SELECT 1 FROM identities s WHERE s.global_user_id = i.global_user_id
             AND s.identifier_type = 'shop_customer_id' AND s.source = 'shop_customers')"""
    )
    assert unmatched == []
    linked = query(
        """SELECT count(DISTINCT s.identifier_value) AS n FROM identities s JOIN identities a
             ON a.global_user_id = s.global_user_id AND a.identifier_type = 'anonymous_id'
           WHERE s.identifier_type = 'shop_customer_id'"""
    )[0]["n"]
    online_customers = query(
        "SELECT count(DISTINCT user_id) AS n FROM core_events WHERE user_id LIKE 'cus_%'"
    )[0]["n"]
    assert linked >= online_customers > 0
    assert query("SELECT count(*) AS n FROM identity_conflicts") == [{"n": 0}]


def test_incremental_runs_over_sample_traffic_equal_a_full_rebuild(
    settings, land, query, tmp_path: Path
) -> None:
    spec = SampleSpec(days=4, visitors=300, seed=5, end=datetime(2026, 11, 20, tzinfo=UTC))
    messages = list(generate_events(spec))
    cuts = [spec.end - timedelta(days=d) for d in (3, 2, 1)]
    generate_shop_export(spec, settings.home / "imports" / "shop")
    start = None
    for cut in [*cuts, spec.end + timedelta(hours=1)]:
        land(
            Received(m.received_at, m.source, m.message)
            for m in messages
            if (start is None or m.received_at >= start) and m.received_at < cut
        )
        _stitch(settings)
        start = cut
    incremental = _identities(query)

    # The same data in one go, in a lake of its own.
    fresh = load_settings(env={}, home=tmp_path / "fresh")
    generate_shop_export(spec, fresh.home / "imports" / "shop")
    lake = Lake(fresh.lake_url)
    with RawWriter(lake) as writer:
        for m in messages:
            writer.write(Received(m.received_at, m.source, m.message))
    events_incremental.run(fresh, now=LATER)
    id_stitching_incremental.run(fresh, now=LATER)
    engine = open_engine(fresh, lake)
    try:
        rows = engine.query(
            "SELECT * FROM identities ORDER BY identifier_type, identifier_value", TableStore(lake)
        ).to_pylist()
    finally:
        engine.close()
    assert [tuple(r.values()) for r in rows] == incremental


def test_changed_offline_files_are_read_again_and_unchanged_ones_are_not(
    settings, land, query
) -> None:
    shop = settings.home / "imports" / "shop"
    shop.mkdir(parents=True)
    (shop / "customers.csv").write_text(
        "customer_id,email,phone,first_name,last_name,created_at\n"
        "cus_000001,ann@shop.test,(415) 555-0100,Ann,A,2026-01-01T00:00:00Z\n"
    )
    land([Received(T, "web", seg("s1", T, anonymousId="v", traits={}, userId="cus_000001"))])
    first = _stitch(settings)
    assert first.offline_files == 1
    people = _people(query)
    assert people[("phone", "+14155550100")] == people[("anonymous_id", "v")]
    assert people[("anonymous_id", "v")] == person_id("email", "ann@shop.test")  # seen first
    assert id_stitching_incremental.run(settings, now=LATER).offline_files == 0

    with (shop / "customers.csv").open("a") as f:
        f.write("cus_000002,bob@shop.test,,Bob,B,2026-02-01T00:00:00Z\n")
    again = id_stitching_incremental.run(settings, now=LATER)
    assert again.offline_files == 1 and again.core_files == 0
    assert ("email", "bob@shop.test") in _people(query)


def test_a_bad_mapping_file_fails_naming_the_entry(tmp_path: Path) -> None:
    from cdpflow.errors import ConfigError
    from cdpflow.identity.config import load_identity_config

    mapping = tmp_path / "identity.yaml"
    mapping.write_text("sources:\n  - path: x.csv\n    columns: {id: 'Not A Type'}\n")
    settings = load_settings(env={"CDPFLOW_ID_MAPPING_FILE": str(mapping)}, home=tmp_path)
    with pytest.raises(ConfigError, match=r"sources\[0\]\.columns\.id"):
        load_identity_config(settings)
