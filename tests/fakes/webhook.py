"""A local webhook receiver that checks cdpflow's HMAC-SHA256 signature, as a CRM would.

It refuses an unsigned or wrongly signed batch with 401, keeps each batch it accepted once by
its `X-Cdpflow-Batch` id, and can be told to answer 429 (with Retry-After) or 5xx for the next
requests, or to refuse batches holding a given email with 422 and a reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import channel_server
from .channel_server import Answer, running, url_of


@dataclass
class Receiver:
    secret: str
    batches: list[dict[str, Any]] = field(default_factory=list)  # accepted, first delivery only
    requests: int = 0
    faults: list[int] = field(default_factory=list)  # statuses answered to the next requests
    retry_after: str = "0"
    refuse_email: str | None = None
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def members(self) -> set[str]:
        """Who the receiver holds now, applying the batches in order."""
        held: set[str] = set()
        for batch in self.batches:
            ids = {p["global_user_id"] for p in batch["people"]}
            held = held - ids if batch["action"] == "remove" else held | ids
        return held

    def handle(self, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests += 1
            expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(headers.get("X-Cdpflow-Signature", ""), expected):
                return 401, {}, b'{"error": "bad signature"}'
            if self.faults:
                status = self.faults.pop(0)
                extra = {"Retry-After": self.retry_after} if status == 429 else {}
                return status, extra, b'{"error": "try later"}'
            batch = json.loads(body)
            if self.refuse_email and any(
                p.get("email") == self.refuse_email for p in batch["people"]
            ):
                return 422, {}, json.dumps({"error": f"{self.refuse_email} is blocked"}).encode()
            if all(b["batch_id"] != batch["batch_id"] for b in self.batches):
                self.batches.append(batch)
            return 200, {}, b'{"ok": true}'


@contextmanager
def webhook_receiver(secret: str) -> Iterator[Receiver]:
    receiver = Receiver(secret)

    def handle(method: str, target: str, headers: Any, body: bytes) -> Answer:
        return receiver.handle(headers, body)

    server = channel_server.serve(handle, "application/json")
    receiver.url = url_of(server) + "/hooks/cdp"
    with running(server):
        yield receiver
