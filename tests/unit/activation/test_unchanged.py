"""The SQL shortcut for unchanged members must agree with the Python fingerprint: a member it
passes over is one the Python way finds unchanged too; rows whose text SQL cannot reproduce
exactly go the Python way."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from support.activation import SEGMENT_MEMBERS, person

from cdpflow.activation.destination import FIELDS, parse_destination
from cdpflow.activation.plan import select_people
from cdpflow.activation.records import STATE
from cdpflow.activation.unchanged import unchanged_rows

PLAIN = [
    person(1),
    person(2, phones=["+15551234567"], emails=[]),  # a phone only
    person(3, first_name="Élodie", last_name="Nuñez-O'Hara"),  # accents and punctuation
    person(4, first_name=None, country=None),  # fields left out of the JSON
    person(5, first_name=""),  # an empty name is sent as ""
    person(6, emails=["a@b.co", "second@b.co"]),
]
TRICKY = [
    person(11, emails=["  padded@example.com "]),  # trimmed in Python
    person(12, emails=["", "second@example.com"]),  # the first non-blank one
    person(13, first_name='Quote"d'),  # JSON escapes
    person(14, last_name="Back\\slash"),
    person(15, first_name="Tab\there"),
    person(16, emails=["x@y.z\u2003"]),  # non-ASCII whitespace that str.strip() removes
]
NOT_SENT = [
    person(21, consent=False),
    person(22, emails=[], phones=[]),
]


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SEGMENT_MEMBERS)


def state_of(rows: pa.Table, consent: str | None, fields=FIELDS) -> pa.Table:
    """Everyone sent as a member, with the fingerprint the Python way computes."""
    destination = parse_destination(
        "d", Path("d.yml"),
        {"type": "webhook", "segment": "lapsed", "url": "https://x.example", "secret": "s",
         "fields": list(fields), **({"consent_field": consent} if consent else {})},
    )  # fmt: skip
    wanted, _ = select_people(destination, rows)
    return pa.Table.from_pylist(
        [{"destination": "d", "global_user_id": gid, "identity_hash": "", "channel_id": "",
          "fingerprint": p.fingerprint(destination.fields), "status": "member"}
         for gid, p in wanted.items()],
        schema=STATE,
    )  # fmt: skip


def passed_over(rows: pa.Table, state: pa.Table, consent: str | None, fields=FIELDS) -> set[str]:
    found = unchanged_rows(rows, state, fields, consent)
    members = set(state["global_user_id"].filter(found.members).to_pylist())
    people = set(rows["global_user_id"].filter(found.rows).to_pylist())
    assert members == people  # the same people in the state and in the segment
    return people


def test_plain_unchanged_members_are_passed_over_and_the_tricky_rows_are_not():
    rows = table(PLAIN + TRICKY + NOT_SENT)
    state = state_of(rows, "consent")
    assert passed_over(rows, state, "consent") == {p["global_user_id"] for p in PLAIN}


def test_a_changed_field_or_a_non_member_is_not_passed_over():
    rows = table(PLAIN)
    state = state_of(rows, None)
    changed = table([person(1, last_name="Changed"), *PLAIN[1:]])
    assert "u00001" not in passed_over(changed, state, None)
    failed = state.set_column(
        state.schema.get_field_index("status"), "status",
        pa.array(["failed"] + ["member"] * (state.num_rows - 1)),
    )  # fmt: skip
    assert "u00001" not in passed_over(rows, failed, None)


def test_the_fingerprint_follows_the_fields_a_destination_sends():
    rows = table(PLAIN)
    fields = ("email", "country")
    state = state_of(rows, None, fields)
    assert passed_over(rows, state, None, fields) == {p["global_user_id"] for p in PLAIN}
    renamed = table([person(1, first_name="Other"), *PLAIN[1:]])  # not a field it sends
    assert "u00001" in passed_over(renamed, state, None, fields)


def test_a_person_listed_twice_goes_the_python_way():
    rows = table(PLAIN)
    state = state_of(rows, None)
    twice = table([*PLAIN, person(1, last_name="Second row")])
    assert passed_over(twice, state, None) == {p["global_user_id"] for p in PLAIN[1:]}
