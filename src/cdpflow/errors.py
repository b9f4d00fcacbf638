"""Exception types: one root, split by what the caller should do next.

Retryable vs not is a type, so schedulers and HTTP clients decide without parsing messages.
"""

from __future__ import annotations


class CdpflowError(Exception):
    """Root of every error cdpflow raises on purpose."""


class ConfigError(CdpflowError):
    """A setting has a bad value; raised at load time, naming the key and the value."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{key} has value `{value}`; expected {expected}.")


class TerminalError(CdpflowError):
    """Retrying will not help: the input or the state must change first."""


class TransientError(CdpflowError):
    """A passing failure (network, lock, throttling): the same call may succeed later."""


class TableNotFoundError(TerminalError):
    """A lake table was asked for by name but has never been written."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listed = ", ".join(known) if known else "none yet"
        super().__init__(
            f"No lake table named `{name}` (tables: {listed}). "
            "Run the job that produces it first, e.g. `cdpflow run events_incremental`."
        )


class ConcurrentCommitError(TransientError):
    """Another writer committed a table version first; re-run to build on its result."""

    def __init__(self, table: str, version: int) -> None:
        self.table = table
        self.version = version
        super().__init__(
            f"Table `{table}` version {version} was committed by another writer; "
            "nothing of this run was published. Re-run the job."
        )


class QueryError(TerminalError):
    """A query over the lake failed to run; the message names the tables that exist."""

    def __init__(self, detail: str, tables: list[str]) -> None:
        self.detail = detail
        self.tables = tables
        listed = ", ".join(tables) if tables else "none yet"
        super().__init__(f"{detail} (lake tables: {listed})")
