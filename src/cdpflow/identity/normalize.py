"""Identifier values in one canonical form, and the junk values that must never link people.

Works on whole Arrow arrays (vectorized) so millions of identifiers normalize in C++; the scalar
helpers call the same code, so there is one definition of "the same email".
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# Values that real traffic is full of and that would glue strangers together.
JUNK_VALUES = frozenset(
    {
        "",
        "null",
        "none",
        "nil",
        "undefined",
        "nan",
        "0",
        "-1",
        "unknown",
        "anonymous",
        "n/a",
        "test",
        "test@example.com",
        "test@test.com",
        "noemail@example.com",
        "[object object]",
        "00000000-0000-0000-0000-000000000000",
    }
)


def normalize_values(types: pa.Array, values: pa.Array, default_country: str = "1") -> pa.Array:
    """Each value in the canonical form of its identifier type; null when it cannot be one.

    email: trimmed and lower-cased, and must look like an address; phone: E.164 (a bare 10-digit
    number is taken as North American, `default_country`); everything else: trimmed.
    """
    trimmed = pc.utf8_trim_whitespace(values.cast(pa.string()))
    emails = pc.utf8_lower(trimmed)
    emails = pc.if_else(
        pc.match_substring_regex(emails, r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), emails, None
    )
    phones = normalize_phones(trimmed, default_country)
    out = pc.if_else(
        pc.equal(types, "email"), emails, pc.if_else(pc.equal(types, "phone"), phones, trimmed)
    )
    return out


def normalize_phones(values: pa.Array, default_country: str = "1") -> pa.Array:
    """E.164 (`+<country><number>`) or null. `(415) 555-0123` -> `+14155550123`."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    international = pc.or_(pc.starts_with(text, "+"), pc.starts_with(text, "00"))
    digits = pc.replace_substring_regex(text, r"[^0-9]", "")
    digits = pc.if_else(pc.starts_with(text, "00"), pc.utf8_slice_codeunits(digits, 2), digits)
    length = pc.utf8_length(digits)
    national = pc.if_else(
        pc.equal(length, 10),
        pc.binary_join_element_wise(default_country, digits, ""),
        pc.if_else(
            pc.and_(pc.equal(length, 11), pc.starts_with(digits, default_country)), digits, None
        ),
    )
    full = pc.if_else(international, digits, national)
    length = pc.utf8_length(full)
    valid = pc.and_(
        pc.and_(pc.greater_equal(length, 8), pc.less_equal(length, 15)),
        pc.invert(pc.starts_with(full, "0")),
    )
    return pc.if_else(valid, pc.binary_join_element_wise("+", full, ""), None)


def junk_mask(values: pa.Array, blocklist: frozenset[str] = frozenset()) -> pa.Array:
    """True where a (normalized) value is null, junk, or blocklisted: it links nobody."""
    lowered = pc.utf8_lower(values)
    blocked = pa.array(sorted(JUNK_VALUES | {b.strip().lower() for b in blocklist}), pa.string())
    return pc.fill_null(pc.or_(pc.is_in(lowered, value_set=blocked), pc.is_null(values)), True)


def normalize_email(value: str | None) -> str | None:
    """`  Jane.Doe@Example.COM ` -> `jane.doe@example.com`; None when not an address."""
    return normalize_values(pa.array(["email"]), pa.array([value], pa.string()))[0].as_py()


def normalize_phone(value: str | None, default_country: str = "1") -> str | None:
    """`(415) 555-0123` -> `+14155550123`; None when it cannot be a phone number."""
    return normalize_phones(pa.array([value], pa.string()), default_country)[0].as_py()
