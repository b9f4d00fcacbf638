"""Segment messages for identity stitching tests, and a small traffic that exercises the graph's
rules (a kiosk device past the cap, junk e-mails, a login joining two devices)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cdpflow.lake.raw import Received

T = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)
IDENTITY_TABLES = ("identities", "identity_edges", "identity_merges", "identity_conflicts")


def seg(mid: str, at: datetime, **fields: object) -> dict:
    """A Segment page message `mid` at `at`, with `fields` on top."""
    message = {"type": "page", "messageId": mid, "timestamp": at.isoformat(), "name": "Home"}
    message.update(fields)
    return message


def stitching_traffic() -> list[Received]:
    """Twelve customers on one kiosk (held out), two spellings of a junk e-mail, and a phone
    whose login names a customer."""
    kiosk = [Received(T, "web", seg(f"k{i}", T, anonymousId="kiosk", userId=f"cus_{i:06d}"))
             for i in range(12)]  # fmt: skip
    emails = [{"email": "test@example.com"}, {"email": "TEST@example.com"}]
    junk = [
        Received(T, "web", seg(f"j{i}", T, type="identify", anonymousId=f"v{i}", traits=t))
        for i, t in enumerate(emails)
    ]
    devices = [
        Received(T, "web", seg("p1", T, anonymousId="phone-1")),
        Received(T, "web", seg("i1", T + timedelta(minutes=1), type="identify",
                               anonymousId="phone-1", userId="cus_9",
                               traits={"email": "jane@shop.test"})),
        Received(T, "web", seg("p2", T + timedelta(minutes=2), anonymousId="laptop-1")),
    ]  # fmt: skip
    return kiosk + junk + devices
