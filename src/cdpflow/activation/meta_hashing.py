"""Meta's customer-file normalization and SHA-256 hashing, done here so raw contact data never
leaves the machine: the Meta channel sends only these hashes.

Rules (reference meta-custom-audiences.md §5, from Meta's SDK and its customer-file guidelines):
EMAIL trimmed and lowercased; PHONE digits only with the country code and no leading zeros;
FN, LN and CT lowercase letters only (accented letters kept as UTF-8, as Meta asks); ST the
2-letter code for a US state, else lowercase letters; ZIP lowercase without spaces, a US ZIP+4 cut
to its 5 digits; COUNTRY the lowercase ISO-3166 alpha-2 code. A value that normalizes to nothing
is sent as `""` (Meta's "unknown" in a multi-key row), never hashed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable

KEYS = ("EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
NOT_ASCII_LETTER = re.compile(r"[^a-z]+")

US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
    "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny",
    "northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
    "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd",
    "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va",
    "washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
    "puertorico": "pr",
}  # fmt: skip
# Country names people type instead of the ISO code.
COUNTRY_NAMES = {
    "unitedstates": "us", "unitedstatesofamerica": "us", "usa": "us", "unitedkingdom": "gb",
    "greatbritain": "gb", "england": "gb", "uk": "gb", "germany": "de", "deutschland": "de",
    "france": "fr", "spain": "es", "italy": "it", "netherlands": "nl", "canada": "ca",
    "australia": "au", "india": "in", "brazil": "br", "mexico": "mx", "japan": "jp",
}  # fmt: skip
# International calling codes, to complete a national phone number from the person's country.
CALLING_CODES = {
    "us": "1", "ca": "1", "pr": "1", "gb": "44", "ie": "353", "de": "49", "at": "43",
    "ch": "41", "fr": "33", "be": "32", "nl": "31", "lu": "352", "es": "34", "pt": "351",
    "it": "39", "dk": "45", "se": "46", "no": "47", "fi": "358", "is": "354", "pl": "48",
    "cz": "420", "sk": "421", "hu": "36", "ro": "40", "bg": "359", "gr": "30", "hr": "385",
    "si": "386", "ee": "372", "lv": "371", "lt": "370", "tr": "90", "il": "972", "ae": "971",
    "sa": "966", "eg": "20", "za": "27", "ng": "234", "ke": "254", "ma": "212", "in": "91",
    "pk": "92", "bd": "880", "cn": "86", "hk": "852", "tw": "886", "jp": "81", "kr": "82",
    "sg": "65", "my": "60", "th": "66", "id": "62", "ph": "63", "vn": "84", "au": "61",
    "nz": "64", "mx": "52", "br": "55", "ar": "54", "cl": "56", "co": "57", "pe": "51",
}  # fmt: skip


def sha256(normalized: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 value; `""` stays `""` (unknown)."""
    return hashlib.sha256(normalized.encode()).hexdigest() if normalized else ""


def email(value: str) -> str:
    return value.strip().lower()


def letters(value: str) -> str:
    """Lowercase letters only (FN, LN, CT): punctuation, digits and spaces dropped; accented
    letters kept, composed (NFC) so the same name always hashes the same."""
    if value.isascii():  # most names: NFC changes nothing and the letters are a-z
        return NOT_ASCII_LETTER.sub("", value.lower())
    text = unicodedata.normalize("NFC", value.strip().lower())
    return "".join(ch for ch in text if ch.isalpha())


def country(value: str) -> str:
    text = letters(value)
    if len(text) == 2:
        return text
    return COUNTRY_NAMES.get(text, "")


def state(value: str) -> str:
    text = letters(value)
    return US_STATES.get(text, text)


def zip_code(value: str) -> str:
    text = value.strip().lower()
    if re.fullmatch(r"\d{5}-\d{4}", text):  # US ZIP+4: the 5-digit ZIP
        return text[:5]
    return re.sub(r"[\s\-]", "", text)


def phone(value: str, country_code: str | None = None) -> str:
    """Digits only, with the international calling code and no leading zeros.

    A number written with `+` or `00` is already international. A national one (a leading trunk
    `0`, or a 10-digit North American number) gets the calling code of the person's country when
    it is known; otherwise its digits are kept as written.
    """
    text = value.strip().replace("(0)", "")  # +44 (0)20 ...: the trunk 0 is not dialled
    digits = re.sub(r"\D", "", text)
    if not digits:
        return ""
    if text.startswith("+"):
        return digits.lstrip("0")
    if digits.startswith("00"):
        return digits.lstrip("0")
    calling = CALLING_CODES.get(country(country_code or ""))
    if calling is None:
        return digits.lstrip("0")
    if calling == "1":
        return "1" + digits if len(digits) == 10 else digits.lstrip("0")
    if digits.startswith("0"):
        return calling + digits.lstrip("0")
    return digits if digits.startswith(calling) else calling + digits


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "EMAIL": email,
    "FN": letters,
    "LN": letters,
    "CT": letters,
    "ST": state,
    "ZIP": zip_code,
    "COUNTRY": country,
}


def normalize(key: str, value: str | None, country_code: str | None = None) -> str:
    """The value of `key` as Meta wants it before hashing; `""` when nothing is left."""
    if value is None:
        return ""
    if key == "PHONE":
        return phone(value, country_code)
    return NORMALIZERS[key](value)


def hashed(key: str, value: str | None, country_code: str | None = None) -> str:
    """Normalized then hashed; `""` when the value is missing or normalizes to nothing."""
    if value is None:
        return ""
    if key in ("EMAIL", "PHONE"):
        return sha256(normalize(key, value, country_code))
    return _hashed_detail(key, value)


@functools.lru_cache(maxsize=1 << 16)
def _hashed_detail(key: str, value: str) -> str:
    """Names, cities, states, ZIPs and countries repeat across a segment: each is normalized and
    hashed once per run (emails and phones are mostly one per person, not worth a cache)."""
    return sha256(NORMALIZERS[key](value))
