"""A job run's data interval and its lock: what the jobs and the code they call share (the ELT
and activation jobs of declared files, the DAG factory), below `cdpflow.jobs`, which lists the
jobs and so imports them all.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from cdpflow.errors import TransientError
from cdpflow.settings import Settings


@dataclass(frozen=True)
class Interval:
    """A data interval [start, end); either end open means "as far as there is data"."""

    start: datetime | None = None
    end: datetime | None = None


class JobAlreadyRunning(TransientError):
    def __init__(self, job: str) -> None:
        self.job = job
        super().__init__(
            f"Another `{job}` run holds its lock, so this one did nothing. "
            "It will be retried; runs of one job never overlap."
        )


@contextmanager
def job_lock(settings: Settings, job: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the job's lock so two runs of one job never write the same tables at once; wait up
    to `wait_seconds` for it (runs that merely take turns wait, a second run of a job does not)."""
    locks = settings.work_dir / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{job}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() >= deadline:
                    raise JobAlreadyRunning(job) from err
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)
