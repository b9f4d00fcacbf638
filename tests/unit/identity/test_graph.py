"""The identity graph on hand-built records: shapes, guards, stable ids, incremental = rebuild."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import networkx as nx
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from cdpflow.identity.changes import Recomputed, recomputed
from cdpflow.identity.graph import stitch
from cdpflow.identity.ids import SEP, person_id
from cdpflow.identity.prepare import OBSERVATIONS, prepare
from cdpflow.identity.schema import IDENTITIES, IDENTITY_EDGES
from cdpflow.identity.unite import unite

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Record = tuple[int, Sequence[tuple[str, str]]]  # (minute, identifiers seen together)


def cap_3(identifier_type: str) -> int | None:
    return None if identifier_type == "anonymous_id" else 3


def no_cap(identifier_type: str) -> int | None:
    return None


def observations(records: Iterable[Record], first_record: int = 0) -> pa.Table:
    rows = []
    for i, (minute, ids) in enumerate(records):
        at = T0 + timedelta(minutes=minute)
        for t, v in ids:
            rows.append(
                {
                    "record": first_record + i,
                    "identifier_type": t,
                    "identifier_value": v,
                    "first_seen_at": at,
                    "last_seen_at": at,
                    "source": "events:web",
                }
            )
    return pa.Table.from_pylist(rows, schema=OBSERVATIONS)


def _keys(table: pa.Table, t: str, v: str) -> pa.Array:
    keys = pc.binary_join_element_wise(table[t], table[v], SEP)
    return pa.chunked_array(keys.chunks, pa.string()).combine_chunks()


class Graph:
    """The job's incremental loop without a lake: load the touched people, join them by the new
    links where that is enough (`unite`, checked against `stitch` every time), else recompute
    them from all their links, and keep the changed rows."""

    def __init__(self, cap_for=cap_3) -> None:  # type: ignore[no-untyped-def]
        self.cap_for = cap_for
        self.identities = IDENTITIES.empty_table()
        self.edges = IDENTITY_EDGES.empty_table()
        self.merges: list[dict] = []
        self.conflicts: list[dict] = []
        self.records = 0
        self.scopes: list[int] = []
        self.paths: list[str] = []

    def run(self, records: Sequence[Record], now: datetime = T0) -> None:
        prepared = prepare(observations(records, self.records))
        self.records += len(records)
        touched = _keys(prepared.sightings, "identifier_type", "identifier_value")
        ids = self.identities
        own = _keys(ids, "identifier_type", "identifier_value")
        hit = ids.filter(pc.is_in(own, value_set=touched))["global_user_id"]
        members = ids.filter(pc.is_in(ids["global_user_id"], value_set=hit.combine_chunks()))
        scope = pa.chunked_array(
            [_keys(members, "identifier_type", "identifier_value"), touched]
        ).combine_chunks()
        full = recomputed(members, stitch(members, self._links(scope), prepared, self.cap_for, now))
        done = unite(members, self._links(touched), prepared, self.cap_for, now)
        if done is None:
            done = full
            self.paths.append("stitch")
        else:
            _assert_same(done, full)
            self.paths.append("unite")
        result = done.stitched
        self.scopes.append(result.identities.num_rows)
        assert done.added == result.identities.num_rows - members.num_rows
        keys = _keys(done.changed, "identifier_type", "identifier_value")
        kept = ids.filter(pc.invert(pc.is_in(own, value_set=keys)))
        self.identities = pa.concat_tables([kept, done.changed])
        self.edges = pa.concat_tables([self.edges, result.new_edges])
        self.merges += result.merges.to_pylist()
        self.conflicts += result.conflicts.to_pylist()

    def _links(self, ends: pa.Array) -> pa.Table:
        """Stored links with an end in `ends`, as the engine loads them (once per end)."""
        return pa.concat_tables(
            [
                self.edges.filter(
                    pc.is_in(_keys(self.edges, f"{side}_type", f"{side}_value"), ends)
                )
                for side in ("left", "right")
            ]
        )

    def ids(self) -> dict[tuple[str, str], str]:
        return {
            (r["identifier_type"], r["identifier_value"]): r["global_user_id"]
            for r in self.identities.to_pylist()
        }

    def people(self) -> set[frozenset[tuple[str, str]]]:
        groups: dict[str, set[tuple[str, str]]] = {}
        for key, gu in self.ids().items():
            groups.setdefault(gu, set()).add(key)
        return {frozenset(g) for g in groups.values()}

    def rows(self) -> list[dict]:
        return sorted(
            self.identities.to_pylist(), key=lambda r: (r["identifier_type"], r["identifier_value"])
        )


def _sorted(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: tuple(str(v) for v in r.values()))


def _assert_same(united: Recomputed, stitched: Recomputed) -> None:
    for name in ("identities", "new_edges", "merges", "conflicts"):
        assert _sorted(getattr(united.stitched, name)) == _sorted(getattr(stitched.stitched, name))
    assert united.stitched.components == stitched.stitched.components
    assert _sorted(united.changed) == _sorted(stitched.changed)
    assert united.added == stitched.added


def rebuild(batches: Sequence[Sequence[Record]], cap_for=cap_3) -> Graph:  # type: ignore[no-untyped-def]
    g = Graph(cap_for)
    g.run([r for batch in batches for r in batch])
    return g


def incremental(batches: Sequence[Sequence[Record]], cap_for=cap_3) -> Graph:  # type: ignore[no-untyped-def]
    g = Graph(cap_for)
    for i, batch in enumerate(batches):
        g.run(batch, T0 + timedelta(days=i))
    return g


A1, A2, A3, A4 = (("anonymous_id", f"a{i}") for i in range(1, 5))
U1, U2 = ("user_id", "u1"), ("user_id", "u2")
E1, E2 = ("email", "one@shop.test"), ("email", "two@shop.test")
P1 = ("phone", "+14155550123")


def test_a_chain_across_events_is_one_person_named_by_its_earliest_identifier() -> None:
    g = rebuild([[(5, [A1, E1]), (6, [E1, U1]), (7, [U1, A2]), (8, [A2, P1])]])
    assert g.people() == {frozenset({A1, E1, U1, A2, P1})}
    assert set(g.ids().values()) == {person_id(*A1)}  # first seen at minute 5, ties by value


def test_ties_in_first_seen_break_by_type_then_value() -> None:
    g = rebuild([[(0, [U1, E1, A1])]])
    assert set(g.ids().values()) == {person_id(*A1)}  # anonymous_id < email < user_id


def test_a_star_of_devices_around_one_login_is_one_person() -> None:
    g = rebuild([[(i, [("anonymous_id", f"d{i}"), U1]) for i in range(20)]])
    assert len(g.people()) == 1 and len(g.ids()) == 21


def test_a_diamond_is_one_person() -> None:
    g = rebuild([[(0, [A1, U1]), (1, [A1, E1]), (2, [U1, P1]), (3, [E1, P1])]])
    assert g.people() == {frozenset({A1, U1, E1, P1})}


def test_identifiers_are_normalized_before_they_link() -> None:
    g = rebuild([[(0, [A1, ("email", " One@Shop.TEST ")]), (1, [A2, ("email", "one@shop.test")])]])
    assert g.people() == {frozenset({A1, A2, E1})}
    g = rebuild([[(0, [A1, ("phone", "(415) 555-0123")]), (1, [A2, ("phone", "+14155550123")])]])
    assert g.people() == {frozenset({A1, A2, P1})}


def test_junk_values_never_link_people() -> None:
    batch = [(i, [("anonymous_id", f"v{i}"), ("email", junk)]) for i, junk in enumerate(
        ["null", "undefined", "", "test@example.com", "0", "TEST@example.com"]
    )]  # fmt: skip
    batch.append((9, [("anonymous_id", "v9"), ("user_id", "undefined")]))
    prepared = prepare(observations(batch), frozenset({"blocked@shop.test"}))
    g = rebuild([batch])
    assert len(g.people()) == 7 and all(k[0] == "anonymous_id" for k in g.ids())
    junk = {(r["identifier_type"], r["identifier_value"]) for r in prepared.junk.to_pylist()}
    assert ("email", "test@example.com") in junk and ("user_id", "undefined") in junk
    blocked = prepare(
        observations([(0, [A1, ("email", "Blocked@shop.test")])]), frozenset({"blocked@shop.test"})
    )
    assert blocked.pairs.num_rows == 0 and blocked.junk.num_rows == 1


def test_an_identifier_over_its_cap_is_held_out_and_reported() -> None:
    kiosk = ("anonymous_id", "kiosk")
    batch = [(i, [kiosk, ("user_id", f"u{i}")]) for i in range(4)]  # 4 user_ids > cap 3
    g = rebuild([batch])
    assert len(g.people()) == 5
    held = [r for r in g.rows() if r["held_out"]]
    assert [(r["identifier_type"], r["identifier_value"]) for r in held] == [kiosk]
    seen = [(c["identifier_value"], c["linked_type"], c["linked_count"]) for c in g.conflicts]
    assert seen == [("kiosk", "user_id", 4)] and g.conflicts[0]["cap"] == 3


def test_an_identifier_crossing_its_cap_later_splits_the_person_as_a_rebuild_would() -> None:
    kiosk = ("anonymous_id", "kiosk")
    batches = [
        [(i, [kiosk, ("user_id", f"u{i}")]) for i in range(3)],  # at the cap: one person
        [(10, [("user_id", "u1"), E1])],
        [(20, [kiosk, ("user_id", "u9")])],  # over the cap: the kiosk is held out
    ]
    g = incremental(batches)
    assert g.rows() == rebuild(batches).rows()
    assert {frozenset({("user_id", "u1"), E1})} <= g.people()
    assert len(g.conflicts) == 1


def test_a_late_bridge_merges_two_long_lived_people_keeping_the_earlier_id() -> None:
    first = [(0, [A1, U1]), (60, [A1, E1])]  # person one from minute 0
    second = [(30, [A2, U2]), (90, [A3, U2, E2])]  # person two from minute 30
    more = [(200 + i, [A1]) for i in range(3)] + [(300, [A3])]
    bridge = [(1000, [A4, E1, E2])]  # one checkout with both emails
    g = incremental([first, second, more, bridge])
    one, two = person_id(*A1), person_id(*A2)
    assert set(g.ids().values()) == {one}
    assert [(m["absorbed_id"], m["surviving_id"], m["reason"]) for m in g.merges] == [
        (two, one, "merge")
    ]
    assert g.rows() == rebuild([first, second, more, bridge]).rows()


def test_links_that_only_join_stored_people_need_not_reload_their_links() -> None:
    first = [(0, [A1, U1]), (5, [A2, U2]), (9, [A3])]
    bridge = [(20, [A4, U1]), (21, [U1, U2]), (22, [A3])]  # a new device, a login, a revisit
    g = incremental([first, bridge])
    assert g.paths == ["unite", "unite"]
    assert g.people() == {frozenset({A1, U1, A2, U2, A4}), frozenset({A3})}
    assert g.rows() == rebuild([first, bridge]).rows()


def test_a_new_link_over_a_cap_or_to_a_held_out_identifier_recomputes_the_people() -> None:
    kiosk = ("anonymous_id", "kiosk")
    at_cap = [[(i, [kiosk, ("user_id", f"u{i}")]) for i in range(3)]]
    over = [(10, [kiosk, ("user_id", "u9")])]
    g = incremental([*at_cap, over])
    assert g.paths == ["unite", "stitch"]
    g.run([(20, [kiosk, ("user_id", "u10")])])  # the kiosk is held out now
    assert g.paths[-1] == "stitch"
    assert g.rows() == rebuild([*at_cap, over, [(20, [kiosk, ("user_id", "u10")])]]).rows()


def test_ids_do_not_change_when_unrelated_people_arrive() -> None:
    g = incremental([[(0, [A1, U1])], [(5, [A2, U2])]])
    before = g.ids()
    g.run([(10, [A3, E2]), (11, [A1])])
    after = g.ids()
    assert {k: after[k] for k in before} == before and not g.merges


def test_a_run_recomputes_only_the_people_it_touches() -> None:
    g = incremental([[(i, [("anonymous_id", f"v{i}"), ("user_id", f"w{i}")]) for i in range(50)]])
    g.run([(100, [("anonymous_id", "v1"), ("email", "new@shop.test")])])
    assert g.scopes[-1] == 3  # v1, w1 and the new email, not the 100 identifiers


def test_an_earlier_sighting_arriving_late_re_anchors_and_is_recorded() -> None:
    g = incremental([[(50, [A1, U1])], [(10, [U1])]])
    assert set(g.ids().values()) == {person_id(*U1)}
    assert [m["reason"] for m in g.merges] == ["late_data"]
    assert g.rows() == rebuild([[(50, [A1, U1])], [(10, [U1])]]).rows()


# -- property: the people are exactly the connected components -----------------------------

TYPES = ("anonymous_id", "user_id", "email", "phone")
identifier = st.tuples(st.sampled_from(TYPES), st.integers(0, 30)).map(
    lambda p: (p[0], f"+1415555{p[1]:04d}" if p[0] == "phone" else f"{p[0][0]}{p[1]}@x.test")
)
records = st.lists(
    st.tuples(st.integers(0, 50), st.lists(identifier, min_size=1, max_size=4)), max_size=40
)


@settings(max_examples=60, deadline=None)
@given(records=records, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_people_are_the_connected_components_and_incremental_equals_rebuild(
    records: list[Record], cuts: list[int]
) -> None:
    reference = nx.Graph()
    for _, ids in records:
        reference.add_nodes_from(ids)
        reference.add_edges_from(itertools.pairwise(ids))
    expected = {frozenset(c) for c in nx.connected_components(reference)}
    bounds = sorted({0, len(records), *(min(c, len(records)) for c in cuts)})
    batches = [records[a:b] for a, b in itertools.pairwise(bounds)]
    full = rebuild(batches, no_cap)
    assert full.people() == expected
    assert incremental(batches, no_cap).rows() == full.rows()


@settings(max_examples=40, deadline=None)
@given(records=records, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_incremental_equals_rebuild_with_caps(records: list[Record], cuts: list[int]) -> None:
    bounds = sorted({0, len(records), *(min(c, len(records)) for c in cuts)})
    batches = [records[a:b] for a, b in itertools.pairwise(bounds)]
    capped = lambda t: None if t == "anonymous_id" else 2  # noqa: E731
    assert incremental(batches, capped).rows() == rebuild(batches, capped).rows()
