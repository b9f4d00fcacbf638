"""The sample generator's inputs and outputs: a spec in, received messages out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cdpflow.errors import ConfigError

# A fixed default keeps a bare `SampleSpec()` deterministic; callers pass their own `end`.
DEFAULT_END = datetime(2024, 6, 3, tzinfo=UTC)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SOURCE_WEB = "web"
SOURCE_BLOTOUT = "blotout"
SOURCE_IOS = "ios"


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One request body as the collector received it.

    `received_at` is the server clock (true time); the body's own timestamps come from a client
    clock that may be skewed. `message` is a str only for deliberately malformed bodies.
    """

    received_at: datetime
    source: str
    message: dict[str, Any] | str


@dataclass(frozen=True)
class SampleSpec:
    """What traffic to generate: its size, span, seed and how dirty it is.

    Traffic spans `[end - days, end)`; the same spec always yields the same messages.
    """

    days: int = 14
    visitors: int = 500
    seed: int = 42
    end: datetime = field(default=DEFAULT_END)
    blotout_share: float = 0.3
    duplicate_rate: float = 0.0
    dirty_rate: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.days, int) or self.days < 1:
            raise ConfigError("days", self.days, "a whole number of days >= 1")
        if not isinstance(self.visitors, int) or self.visitors < 1:
            raise ConfigError("visitors", self.visitors, "a whole number >= 1")
        if not isinstance(self.seed, int):
            raise ConfigError("seed", self.seed, "an integer")
        if not isinstance(self.end, datetime) or self.end.utcoffset() is None:
            raise ConfigError("end", self.end, "a timezone-aware datetime")
        for name in ("blotout_share", "duplicate_rate", "dirty_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ConfigError(name, value, "a share between 0 and 1")
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    @property
    def end_ms(self) -> int:
        """End of the span in epoch milliseconds (exclusive)."""
        return (self.end - _EPOCH) // timedelta(milliseconds=1)

    @property
    def begin_ms(self) -> int:
        """Start of the span in epoch milliseconds (inclusive)."""
        return self.end_ms - self.days * 86_400_000
