"""The validation rules as declared data: checked without an engine."""

from __future__ import annotations

import re

import pytest

from cdpflow.events import blotout, quarantine, segment
from cdpflow.events.quarantine import BLOTOUT_RULES, CHECKS, QUARANTINE_REASONS, SEGMENT_RULES

# What a rule may name besides a payload path: a value the format derives from several fields.
SEGMENT_FIELDS = (
    set(segment.MESSAGE_PATHS.values())
    | {f"properties.{p}" for p in segment.PROPERTY_PATHS.values()}
    | {"receivedAt"}
)
BLOTOUT_FIELDS = (
    set(blotout.EVENT_PATHS.values())
    | {f"additionalData.{p}" for p in blotout.DATA_PATHS.values()}
    | {"receivedAt", "visitor id"}
)
PLACEHOLDERS = {"value", "json", "json_type", "size", "limit", "name", "sent_at", "corrected"}


def test_an_event_without_message_id_is_missing_id_before_any_other_field_is_checked() -> None:
    codes = [(r.check, r.field, r.code, r.message) for r in SEGMENT_RULES]
    missing_id = codes.index(("missing", "messageId", "missing_id", "messageId is missing"))
    # only the item's own shape, its size and the id's JSON type are checked before it
    assert [c[:2] for c in codes[:missing_id]] == [
        ("not_an_object", ""),
        ("too_large", ""),
        ("not_string", "messageId"),
    ]


def test_a_blotout_event_without_mid_is_missing_id() -> None:
    assert [r.code for r in BLOTOUT_RULES if r.check == "missing" and r.field == "mid"] == [
        "missing_id"
    ]


@pytest.mark.parametrize(
    ("rules", "fields"), [(SEGMENT_RULES, SEGMENT_FIELDS), (BLOTOUT_RULES, BLOTOUT_FIELDS)]
)
def test_every_rule_names_a_known_code_check_field_and_placeholder(
    rules: tuple[quarantine.Rule, ...], fields: set[str]
) -> None:
    for rule in rules:
        assert rule.code in QUARANTINE_REASONS, rule
        assert rule.check in CHECKS, rule
        named = rule.field if isinstance(rule.field, tuple) else (rule.field,)
        assert all(f in fields for f in named if f), rule
        assert set(re.findall(r"\{(\w+)\}", rule.message)) <= PLACEHOLDERS, rule
        assert bool(rule.choices) == (rule.check == "not_in"), rule


@pytest.mark.parametrize(
    ("strings", "paths"),
    [
        (segment.STRING_FIELDS, segment.MESSAGE_PATHS),
        (blotout.STRING_FIELDS, blotout.EVENT_PATHS),
    ],
)
def test_every_string_field_is_read_and_checked(strings: tuple[str, ...], paths: dict) -> None:
    rules = SEGMENT_RULES if paths is segment.MESSAGE_PATHS else BLOTOUT_RULES
    assert set(strings) <= set(paths.values())
    assert [r.field for r in rules if r.check == "not_string"] == list(strings)


@pytest.mark.parametrize(
    "paths",
    [
        segment.MESSAGE_PATHS,
        segment.PROPERTY_PATHS,
        segment.TRAIT_PATHS,
        blotout.EVENT_PATHS,
        blotout.DATA_PATHS,
        blotout.META_PATHS,
    ],
)
def test_no_path_is_read_twice_into_one_struct(paths: dict[str, str]) -> None:
    assert len(set(paths.values())) == len(paths)


def test_a_time_is_checked_after_its_presence_and_the_type_before_its_times() -> None:
    order = [(r.check, r.field) for r in SEGMENT_RULES]
    assert order.index(("missing", "timestamp")) < order.index(("not_a_time", "timestamp"))
    assert order.index(("not_in", "type")) < order.index(("missing", "timestamp"))
    evt = [(r.check, r.field) for r in BLOTOUT_RULES]
    assert evt.index(("missing", "evt")) < evt.index(("not_a_time", "evt"))
