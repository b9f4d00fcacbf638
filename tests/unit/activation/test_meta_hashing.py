"""Meta's normalization and hashing, checked against the examples Meta publishes with its
customer information parameters (input, normalized form, expected SHA-256)."""

from __future__ import annotations

import pytest

from cdpflow.activation.meta_hashing import HEX64, hashed, normalize


@pytest.mark.parametrize(
    ("key", "raw", "normalized", "expected"),
    [
        ("EMAIL", "John_Smith@gmail.com", "john_smith@gmail.com",
         "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
        ("PHONE", "(650)555-1212", "16505551212",
         "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"),
        ("FN", "Mary", "mary",
         "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"),
        ("FN", "정", "정",
         "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"),
        ("LN", "Valéry", "valéry",
         "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"),
    ],
)  # fmt: skip
def test_meta_published_examples_hash_to_the_published_digest(key, raw, normalized, expected):
    assert normalize(key, raw, "US") == normalized
    assert hashed(key, raw, "US") == expected


@pytest.mark.parametrize(
    ("key", "raw", "country", "normalized"),
    [
        ("EMAIL", "  Person3@Example.COM \t", None, "person3@example.com"),
        ("PHONE", "+1 (650) 555-1212", None, "16505551212"),
        ("PHONE", "650.555.1212", "us", "16505551212"),
        ("PHONE", "07700 900123", "GB", "447700900123"),
        ("PHONE", "+44 (0)7700 900123", None, "447700900123"),
        ("PHONE", "0044 7700 900123", "DE", "447700900123"),
        ("PHONE", "030 1234567", "DE", "49301234567"),
        ("PHONE", "n/a", "US", ""),
        ("FN", " Mary-Ann ", None, "maryann"),
        ("LN", "O'Brien Jr.", None, "obrienjr"),
        ("LN", "Vale\u0301ry", None, "valéry"),  # decomposed é hashes as the composed one
        ("CT", "Menlo Park", None, "menlopark"),
        ("CT", "St. Louis", None, "stlouis"),
        ("ST", "California", None, "ca"),
        ("ST", "CA", None, "ca"),
        ("ST", "New York", None, "ny"),
        ("ST", "Île-de-France", None, "îledefrance"),
        ("ZIP", "94025-1234", None, "94025"),
        ("ZIP", "SW1A 1AA", None, "sw1a1aa"),
        ("COUNTRY", "US", None, "us"),
        ("COUNTRY", " gb ", None, "gb"),
        ("COUNTRY", "United States", None, "us"),
        ("COUNTRY", "Atlantis", None, ""),
    ],
)  # fmt: skip
def test_each_key_is_normalized_by_meta_rules(key, raw, country, normalized):
    assert normalize(key, raw, country) == normalized


def test_hashes_are_lowercase_hex_and_nothing_hashes_to_unknown():
    assert HEX64.match(hashed("CT", "Menlo Park"))
    assert hashed("PHONE", "ext. only") == "" and hashed("EMAIL", None) == ""
    assert hashed("EMAIL", " A@B.co ") == hashed("EMAIL", "a@b.co")
