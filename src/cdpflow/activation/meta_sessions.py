"""Meta's upload sessions, journaled on this machine so a killed run resumes them.

Its own module because it is the one piece of the Meta channel with state of its own: which
session each action is in and which `batch_seq` each batch got, kept in a small JSON file under
the work directory and rewritten atomically before a batch leaves. A run killed mid-way (or an
Airflow retry) reads it back, continues the same session and sends a batch again under its old
`batch_seq`, which Meta takes as the same batch.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
from dataclasses import dataclass

import orjson

from cdpflow.settings import Settings

# A killed run's session is continued this long (Meta documents no session lifetime; an hour
# covers Airflow's retries); later, a new session starts.
RESUME_SECONDS = 3600.0


@dataclass
class Session:
    """One Meta upload session of an action, as journaled: which batches got which sequence."""

    session_id: int
    estimated_num_total: int
    next_seq: int = 1
    batches: dict[str, int] | None = None  # batch digest -> batch_seq
    opened_at: float = 0.0
    resumed: bool = False  # a killed run's session, read back from the journal

    def seq_for(self, digest: str) -> int:
        batches = self.batches if self.batches is not None else {}
        self.batches = batches
        if digest not in batches:
            batches[digest] = self.next_seq
            self.next_seq += 1
        return batches[digest]


class SessionJournal:
    """The open sessions of one destination, in a small JSON file under the work directory,
    rewritten atomically before each batch is sent."""

    def __init__(self, settings: Settings, destination: str, audience_id: str) -> None:
        self.path = settings.work_dir / "activation" / "meta-sessions" / f"{destination}.json"
        self.audience_id = audience_id
        self.sessions: dict[str, Session] = {}
        try:
            saved = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            saved = {}
        if isinstance(saved, dict) and saved.get("audience_id") == audience_id:
            for action, s in (saved.get("sessions") or {}).items():
                if time.time() - float(s.get("opened_at") or 0) > RESUME_SECONDS:
                    continue
                self.sessions[action] = Session(
                    int(s["session_id"]), int(s["estimated_num_total"]), int(s["next_seq"]),
                    {str(k): int(v) for k, v in (s.get("batches") or {}).items()},
                    float(s["opened_at"]), resumed=True,
                )  # fmt: skip

    def open(self, action: str, total: int) -> Session:
        """The action's unfinished session (a killed run's), or a new one."""
        session = self.sessions.get(action)
        if session is None:
            # random 63-bit ids: unique within the ad account for all practical purposes
            session = Session(secrets.randbits(62) | 1 << 62, total, opened_at=time.time())
            self.sessions[action] = session
            self.save()
        return session

    def close(self, action: str) -> None:
        self.sessions.pop(action, None)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "audience_id": self.audience_id,
            "sessions": {
                action: {
                    "session_id": s.session_id,
                    "estimated_num_total": s.estimated_num_total,
                    "next_seq": s.next_seq,
                    "batches": s.batches or {},
                    "opened_at": s.opened_at,
                }
                for action, s in self.sessions.items()
            },
        }
        fd, staged = tempfile.mkstemp(dir=self.path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(body))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, self.path)


def batch_digest(method: str, schema: tuple[str, ...], rows: list[tuple[str, list[str]]]) -> str:
    """Names a batch by what it carries, so the same batch sent again gets the same batch_seq."""
    h = hashlib.sha256(f"{method}|{','.join(schema)}".encode())
    for gid, row in rows:
        h.update(f"|{gid}:{','.join(row)}".encode())
    return h.hexdigest()[:32]
