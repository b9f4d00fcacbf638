"""The webhook channel: batches of JSON POSTed to a URL, signed so the receiver can trust them.

Body: `{"destination", "segment", "action": "add"|"update"|"remove", "batch_id", "people": [...]}`;
header `X-Cdpflow-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the secret>` and
`X-Cdpflow-Batch: <batch_id>`, the same on a retry of the batch, so a receiver can drop a batch it
already applied. Any 2xx acknowledges the whole batch; another 4xx refuses it with the body as the
reason (retried next run when it was 408, 409 or 425).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import orjson

from cdpflow.activation.channel import Member, Outcome, Person
from cdpflow.activation.destination import Destination
from cdpflow.activation.http import ChannelHttp, channel_detail
from cdpflow.settings import Settings

SIGNATURE_HEADER = "X-Cdpflow-Signature"
BATCH_HEADER = "X-Cdpflow-Batch"
TRANSIENT = (408, 409, 425)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, destination: Destination, settings: Settings, secret: str) -> None:
        self.destination = destination
        self.secret = secret
        self.url = str(destination.target["url"])
        self.upsert_batch = self.remove_batch = int(destination.target.get("batch_size", 500))
        self.http = ChannelHttp(
            destination.name,
            destination.secret,
            "",
            {"content-type": "application/json", "user-agent": "cdpflow"},
            attempts=settings.activation_http_attempts,
            max_wait_seconds=settings.activation_max_wait_seconds,
        )

    def prepare(self, create: bool) -> None:
        return None

    def begin(self, action: str, total: int, previous: Mapping[str, Member]) -> None:
        return None  # batches stand alone: nothing to open per action

    def send(self, action: str, people: list[Person], last: bool) -> list[Outcome]:
        rows = [
            {"global_user_id": p.global_user_id, **p.fields(self.destination.fields)}
            for p in people
        ]
        return self._post(action, rows)

    def remove(self, members: list[Member], last: bool) -> list[Outcome]:
        return self._post("remove", [{"global_user_id": m.global_user_id} for m in members])

    def _post(self, action: str, people: list[dict[str, object]]) -> list[Outcome]:
        ids = [str(p["global_user_id"]) for p in people]
        batch_id = hashlib.sha256(f"{action}|{'|'.join(ids)}".encode()).hexdigest()[:32]
        body = orjson.dumps(
            {
                "destination": self.destination.name,
                "segment": self.destination.segment,
                "action": action,
                "batch_id": batch_id,
                "people": people,
            }
        )
        headers = {SIGNATURE_HEADER: signature(self.secret, body), BATCH_HEADER: batch_id}
        response = self.http.request("POST", self.url, content=body, headers=headers)
        if response.is_success:
            return [Outcome(gid, True, response.status_code) for gid in ids]
        reason = channel_detail(response)
        transient = response.status_code in TRANSIENT
        return [Outcome(gid, False, response.status_code, reason, transient) for gid in ids]

    def reported_size(self) -> tuple[int, int] | None:
        return None

    def close(self) -> None:
        self.http.close()
