from __future__ import annotations

import pyarrow as pa
import pytest

from cdpflow.identity.normalize import junk_mask, normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("(415) 555-0123", "+14155550123"),
        ("415.555.0123", "+14155550123"),
        ("+1 415 555 0123", "+14155550123"),
        ("1-415-555-0123", "+14155550123"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("555-0123", None),
        ("not a phone", None),
        ("", None),
        (None, None),
    ],
)
def test_phones_become_e164(typed: str | None, e164: str | None) -> None:
    assert normalize_phone(typed) == e164


def test_emails_are_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert normalize_email("jane.doe") is None
    assert normalize_email(None) is None


def test_junk_and_blocklisted_values_are_masked() -> None:
    values = pa.array(["", "NULL", "undefined", "0", "test@example.com", "guest", "cus_1", None])
    assert junk_mask(values, frozenset({"Guest"})).to_pylist() == [
        True, True, True, True, True, True, False, True,
    ]  # fmt: skip
