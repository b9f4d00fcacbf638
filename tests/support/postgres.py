"""A throwaway PostgreSQL server from Debian's `postgresql` package, for integration tests.

Started with initdb + pg_ctl in a temporary directory, listening on 127.0.0.1 only (trust auth),
as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.ports import free_port

PACKAGE_HINT = (
    "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's "
    "`postgresql` package (`apt-get install postgresql`; .ci/run does)"
)


def find_bindir() -> Path | None:
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda p: int(Path(p).parts[-3].split(".")[0]))
    return Path(newest).parent


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    as_user: str | None  # run the server binaries as this user (when we are root)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, user: str = "postgres", database: str = "postgres", password: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self.as_user:
            # util-linux puts it in /usr/sbin, which a root shell's PATH may leave out
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            cmd = [runuser, "-u", self.as_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed:\n{proc.stdout}\n{proc.stderr}\n{tail}")

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c max_connections=50"
        )
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


def start_server() -> PostgresServer | None:
    """A running server, or None when the binaries are absent."""
    bindir = find_bindir()
    if bindir is None:
        return None
    root = Path(tempfile.mkdtemp(prefix="cdpflow-pg-"))
    as_user = None
    if os.geteuid() == 0:
        as_user = "postgres"
        entry = pwd.getpwnam(as_user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bindir, root, free_port(), as_user)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def remove(server: PostgresServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


@contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A server for a module's tests, stopped and removed after them; the tests are skipped
    when Debian's postgresql package is not installed."""
    server = start_server()
    if server is None:
        pytest.skip(PACKAGE_HINT)
    try:
        yield server
    finally:
        remove(server)
