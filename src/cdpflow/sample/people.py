"""Visitors' devices and shop customers' profiles, each derived from its own random stream.

Deriving them on demand (rather than storing them) keeps memory flat however many visitors.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cdpflow.sample.catalog import (
    AREA_CODES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    IOS_MODELS,
    LAST_NAMES,
    UA_ANDROID,
    UA_DESKTOP,
    UA_IOS_APP,
    UA_IPHONE,
)
from cdpflow.sample.model import SOURCE_BLOTOUT, SOURCE_IOS, SOURCE_WEB
from cdpflow.sample.plan import STREAM_CUSTOMER, STREAM_PERSON, stream

SKEWED_DEVICE_SHARE = 0.1
PHONE_E164_SHARE = 0.6  # phones typed as +1...; the rest in the US display form
US_OFFSETS = (-240, -300, -360, -420)
EU_OFFSETS = (60, 120)
EU_LOCALES = ("de-DE", "fr-FR", "nl-NL", "es-ES", "it-IT")


@dataclass(frozen=True, slots=True)
class Device:
    """One browser or app install: its own anonymous id, clock and network."""

    source: str
    anonymous_id: str
    user_agent: str
    ip: str
    skew_ms: int  # client clock minus true time
    tz_offset: int  # minutes east of UTC
    locale: str
    width: int
    height: int
    model: str  # iOS hardware model; "" on the web
    flush_at: int  # iOS queue length that triggers a flush


@dataclass(frozen=True, slots=True)
class Customer:
    """A shop account as the shop stores it (normalized email, E.164 phone)."""

    customer_id: str
    first_name: str
    last_name: str
    email: str
    phone: str


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID string drawn from `rng` (the uuid module would use OS randomness)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def person_devices(
    seed: int, person: int, *, blotout: bool, ios_app: bool, eur: bool
) -> tuple[Device, Device]:
    """The person's (phone, laptop); a one-device person only ever uses one of them."""
    rng = stream(seed, STREAM_PERSON, person)
    tz = rng.choice(EU_OFFSETS if eur else US_OFFSETS)
    locale = rng.choice(EU_LOCALES) if eur else "en-US"
    home_ip = _ip(rng)
    iphone = rng.random() < 0.55
    devices = []
    for kind in ("phone", "laptop"):
        skew = _skew(rng)
        if kind == "phone" and ios_app:
            source, ua, anon = SOURCE_IOS, UA_IOS_APP, uuid4(rng).upper()
            width, height, model = 390, 844, rng.choice(IOS_MODELS)
        elif kind == "phone":
            source = SOURCE_BLOTOUT if blotout else SOURCE_WEB
            ua = rng.choice(UA_IPHONE if iphone else UA_ANDROID)
            anon = f"{rng.getrandbits(128):032x}" if blotout else uuid4(rng)
            width, height, model = (390, 844, "") if iphone else (412, 915, "")
        else:
            source = SOURCE_BLOTOUT if blotout else SOURCE_WEB
            ua = rng.choice(UA_DESKTOP)
            anon = f"{rng.getrandbits(128):032x}" if blotout else uuid4(rng)
            width, height = rng.choice(((1440, 900), (1920, 1080), (1536, 864)))
            model = ""
        devices.append(
            Device(
                source=source,
                anonymous_id=anon,
                user_agent=ua,
                ip=home_ip if kind == "laptop" else _ip(rng),
                skew_ms=skew,
                tz_offset=tz,
                locale=locale,
                width=width,
                height=height,
                model=model,
                flush_at=rng.randint(4, 9),
            )
        )
    return devices[0], devices[1]


def customer_profile(seed: int, customer_no: int) -> Customer:
    """The shop's record of customer `customer_no` (1-based); unique email and phone."""
    rng = stream(seed, STREAM_CUSTOMER, customer_no)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    area = AREA_CODES[customer_no % len(AREA_CODES)]
    line = (100 + customer_no // len(AREA_CODES)) % 10_000  # 555-0100 upwards, like TV numbers
    return Customer(
        customer_id=f"cus_{customer_no:06d}",
        first_name=first,
        last_name=last,
        email=f"{first}.{last}{customer_no}@{rng.choice(EMAIL_DOMAINS)}".lower(),
        phone=f"+1{area}555{line:04d}",
    )


def typed_email(customer: Customer, rng: random.Random) -> str:
    """The email as a person types it into a form: often clean, sometimes cased or padded."""
    roll = rng.random()
    if roll < 0.7:
        return customer.email
    local, domain = customer.email.split("@", 1)
    if roll < 0.85:
        number = int(customer.customer_id.removeprefix("cus_"))
        return f" {customer.first_name}.{customer.last_name}{number}@{domain.capitalize()}"
    if roll < 0.95:
        return customer.email.upper() + " "
    return f"{local.capitalize()}@{domain}"


def typed_phone(customer: Customer, rng: random.Random) -> str:
    """The phone as typed: E.164 or the US display form."""
    if rng.random() < PHONE_E164_SHARE:
        return customer.phone
    digits = customer.phone[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def _skew(rng: random.Random) -> int:
    """Client clock error: small drift for most, minutes or whole hours off for a few."""
    if rng.random() >= SKEWED_DEVICE_SHARE:
        return rng.randint(-1500, 1500)
    sign = rng.choice((-1, 1))
    roll = rng.random()
    if roll < 0.55:
        return sign * rng.randint(2 * 60_000, 15 * 60_000)
    if roll < 0.9:
        return sign * (3_600_000 + rng.randint(-3000, 3000))
    return sign * rng.randint(2, 6) * 3_600_000


def _ip(rng: random.Random) -> str:
    """An address from the documentation ranges (RFC 5737 / RFC 3849): realistic but not real."""
    if rng.random() < 0.65:
        net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{net}.{rng.randint(1, 254)}"
    return f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
