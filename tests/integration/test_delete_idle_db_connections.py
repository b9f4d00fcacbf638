"""delete_idle_db_connections against a real PostgreSQL: open connections, run, see who survived."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from support.lake import LATER
from support.ports import free_port
from support.postgres import PostgresServer, running_server

from cdpflow.errors import ConfigError, TerminalError, TransientError
from cdpflow.jobs import JOBS, delete_idle_db_connections
from cdpflow.postgres.client import Backend, PostgresClient
from cdpflow.settings import Settings, load_settings

THRESHOLD_MINUTES = 0.03  # 1.8 s
OLD = THRESHOLD_MINUTES * 60 + 0.6  # how long the "old" connections sit idle before a run
SECRET = "s3cret-pw"


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    with running_server() as server:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            # `app` may see and signal other users' sessions; whether it does is the setting's call
            admin.execute(
                "CREATE ROLE app LOGIN REPLICATION IN ROLE pg_signal_backend, pg_read_all_stats"
            )
            admin.execute("CREATE ROLE other LOGIN")
        yield server


def job_settings(tmp_path: Path, url: str, **env: str) -> Settings:
    base = {"CDPFLOW_IDLE_DB_URL": url, "CDPFLOW_IDLE_THRESHOLD_MINUTES": str(THRESHOLD_MINUTES)}
    return load_settings(env={**base, **env}, home=tmp_path / "home")


@dataclass
class Fleet:
    """Connections in known states; `close` ends every one of them."""

    pg: PostgresServer
    old_idle: list[psycopg.Connection] = field(default_factory=list)
    old_in_transaction: psycopg.Connection | None = None
    other_user: psycopg.Connection | None = None
    active: psycopg.Connection | None = None
    fresh: psycopg.Connection | None = None
    active_outcome: list[object] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def connect(self, user: str, name: str, autocommit: bool = True) -> psycopg.Connection:
        conn = psycopg.connect(self.pg.url(user), autocommit=autocommit, application_name=name)
        conn.execute("SELECT 1")  # idle, or idle in transaction without autocommit
        return conn

    def open(self) -> None:
        """Idle old connections of all kinds and an active query, then fresh idle ones."""
        self.old_idle = [self.connect("app", f"old-idle-{i}") for i in range(2)]
        self.old_in_transaction = self.connect("app", "old-in-tx", autocommit=False)
        self.other_user = self.connect("other", "other-user")
        self.active = psycopg.connect(self.pg.url("app"), autocommit=True, application_name="busy")

        def busy() -> None:
            assert self.active is not None
            try:
                self.active_outcome.append(
                    self.active.execute("SELECT pg_sleep(%s)", (OLD + 1.5,)).fetchone()
                )
            except psycopg.Error as err:
                self.active_outcome.append(err)

        self._thread = threading.Thread(target=busy)
        self._thread.start()
        time.sleep(OLD)
        self.fresh = self.connect("app", "fresh")

    def all(self) -> list[psycopg.Connection]:
        conns = [*self.old_idle, self.old_in_transaction, self.other_user, self.active, self.fresh]
        return [c for c in conns if c is not None]

    def pid(self, conn: psycopg.Connection | None) -> int:
        assert conn is not None
        return conn.info.backend_pid

    def finish_active(self) -> object:
        assert self._thread is not None
        self._thread.join(timeout=30)
        return self.active_outcome[0]

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=30)
        for conn in self.all():
            conn.close()


@pytest.fixture
def fleet(pg: PostgresServer) -> Iterator[Fleet]:
    fleet_ = Fleet(pg)
    try:
        yield fleet_
    finally:
        fleet_.close()


def live_pids(pg: PostgresServer, pids: set[int], gone: frozenset[int] | set[int] = frozenset()):
    """Which of `pids` still have a backend, after waiting for those in `gone` to exit."""
    with psycopg.connect(pg.url(), autocommit=True) as admin:
        deadline = time.monotonic() + 10
        while True:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)
            ).fetchall()
            live = {r[0] for r in rows}
            if not live & gone or time.monotonic() > deadline:
                return live


def answers(conn: psycopg.Connection) -> bool:
    """Whether the connection still runs a query (a terminated one fails)."""
    try:
        conn.execute("SELECT 1").fetchone()
        return True
    except psycopg.OperationalError:
        return False


def test_only_own_idle_connections_past_the_threshold_are_terminated(tmp_path, pg, fleet):
    fleet.open()
    result = delete_idle_db_connections.run(job_settings(tmp_path, pg.url("app")))

    expected = {fleet.pid(c) for c in [*fleet.old_idle, fleet.old_in_transaction]}
    assert {b.pid for b in result.terminated} == expected
    states = {b.pid: b.state for b in result.terminated}
    assert states[fleet.pid(fleet.old_in_transaction)] == "idle in transaction"
    assert all(b.idle_seconds > THRESHOLD_MINUTES * 60 for b in result.terminated)
    assert {b.application_name for b in result.terminated} == {
        "old-idle-0",
        "old-idle-1",
        "old-in-tx",
    }
    skipped = {b.pid: why for b, why in result.skipped}
    assert "CDPFLOW_IDLE_INCLUDE_OTHER_USERS" in skipped[fleet.pid(fleet.other_user)]
    assert result.own_pid not in expected | set(skipped)

    every = {fleet.pid(c) for c in fleet.all()}
    assert live_pids(pg, every, gone=expected) == every - expected
    assert not any(answers(c) for c in [*fleet.old_idle, fleet.old_in_transaction])
    assert answers(fleet.other_user) and answers(fleet.fresh)
    assert fleet.finish_active() == ("",)  # the active query ran to its end
    assert answers(fleet.active)

    text = result.summary()
    assert "terminated 3 connection(s)" in text and "skipped 1" in text
    assert "old-in-tx" in text and "idle in transaction" in text


def test_dry_run_lists_them_and_terminates_nothing(tmp_path, pg, fleet):
    fleet.open()
    every = {fleet.pid(c) for c in fleet.all()}
    result = delete_idle_db_connections.run(job_settings(tmp_path, pg.url("app")), dry_run=True)
    assert {b.pid for b in result.terminated} == {
        fleet.pid(c) for c in [*fleet.old_idle, fleet.old_in_transaction]
    }
    assert "would terminate 3" in result.summary()
    assert live_pids(pg, every) == every
    assert all(answers(c) for c in fleet.all() if c is not fleet.active)


def test_including_other_users_terminates_theirs_too(tmp_path, pg, fleet):
    fleet.open()
    settings = job_settings(tmp_path, pg.url("app"), CDPFLOW_IDLE_INCLUDE_OTHER_USERS="yes")
    result = delete_idle_db_connections.run(settings)
    expected = {fleet.pid(c) for c in [*fleet.old_idle, fleet.old_in_transaction]}
    expected.add(fleet.pid(fleet.other_user))
    assert {b.pid for b in result.terminated} == expected
    assert {b.user for b in result.terminated} == {"app", "other"}
    assert not answers(fleet.other_user)
    assert answers(fleet.fresh)


def test_idle_replication_connections_need_their_setting(tmp_path, pg):
    url = pg.url("app") + "?replication=database"
    with psycopg.connect(url, autocommit=True, application_name="walsender") as replication:
        replication.execute("IDENTIFY_SYSTEM").fetchone()
        pid = replication.info.backend_pid
        time.sleep(OLD)

        kept = delete_idle_db_connections.run(job_settings(tmp_path, pg.url("app")))
        (why,) = [why for b, why in kept.skipped if b.pid == pid]
        assert "CDPFLOW_IDLE_INCLUDE_REPLICATION" in why
        assert pid not in {b.pid for b in kept.terminated}
        assert live_pids(pg, {pid}) == {pid}

        settings = job_settings(tmp_path, pg.url("app"), CDPFLOW_IDLE_INCLUDE_REPLICATION="true")
        ended = delete_idle_db_connections.run(settings)
        assert [(b.pid, b.backend_type) for b in ended.terminated] == [(pid, "walsender")]
        assert live_pids(pg, {pid}, gone={pid}) == set()
        assert not answers(replication)


def test_the_jobs_own_connection_is_never_terminated(tmp_path, pg):
    settings = job_settings(
        tmp_path, pg.url("app"), CDPFLOW_IDLE_THRESHOLD_MINUTES="0.0001"
    )  # 6 ms: anything idle at all qualifies
    with psycopg.connect(pg.url("app"), autocommit=True) as idle:
        idle.execute("SELECT 1")
        time.sleep(0.05)
        result = delete_idle_db_connections.run(settings)
        assert idle.info.backend_pid in {b.pid for b in result.terminated}
    assert result.own_pid is not None
    assert result.own_pid not in {b.pid for b in result.terminated}
    assert result.own_pid not in {b.pid for b, _ in result.skipped}

    with PostgresClient.connect(pg.url("app"), source="test") as client:
        # never listed, so never a candidate
        assert client.own_pid not in {b.pid for b in client.idle_backends(0)}
        own = Backend(client.own_pid, "app", "", "idle", "client backend", None, None, LATER, 1e6)
        with pytest.raises(ValueError, match="own connection"):
            client.terminate(own)


def test_a_url_that_is_not_postgres_fails_at_load_without_the_password(tmp_path):
    with pytest.raises(ConfigError, match="CDPFLOW_IDLE_DB_URL") as caught:
        load_settings(env={"CDPFLOW_IDLE_DB_URL": f"mysql://app:{SECRET}@db:3306/x"}, home=tmp_path)
    assert SECRET not in str(caught.value)
    assert "postgresql://" in str(caught.value)


def test_an_unreachable_server_names_the_setting_without_the_password(tmp_path):
    url = f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(TransientError, match="CDPFLOW_IDLE_DB_URL") as caught:
        delete_idle_db_connections.run(job_settings(tmp_path, url))
    assert SECRET not in str(caught.value)
    assert "app:********@127.0.0.1" in str(caught.value)


def test_an_unknown_database_is_a_terminal_error_without_the_password(tmp_path, pg):
    url = pg.url("app", database="nosuchdb", password=SECRET)
    with pytest.raises(TerminalError, match="CDPFLOW_IDLE_DB_URL") as caught:
        delete_idle_db_connections.run(job_settings(tmp_path, url))
    assert SECRET not in str(caught.value) and "nosuchdb" in str(caught.value)


def test_without_a_database_the_job_does_nothing_and_says_why(tmp_path):
    result = delete_idle_db_connections.run(load_settings(env={}, home=tmp_path))
    assert result.terminated == [] and "set CDPFLOW_IDLE_DB_URL" in result.summary()
    conn_id_only = load_settings(env={"CDPFLOW_IDLE_DB_CONN_ID": "warehouse"}, home=tmp_path)
    summary = delete_idle_db_connections.run(conn_id_only).summary()
    assert "`warehouse`" in summary and "only the Airflow DAG resolves" in summary


def test_the_cli_runs_it_as_a_dag_id(tmp_path, pg):
    assert "delete_idle_db_connections" in JOBS
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDPFLOW_")}
    env.update(
        CDPFLOW_HOME=str(tmp_path / "home"),
        CDPFLOW_IDLE_DB_URL=pg.url("app", password=SECRET),
    )
    with psycopg.connect(pg.url("app"), autocommit=True, application_name="left-open") as idle:
        idle.execute("SELECT 1")
        command = ["run", "delete_idle_db_connections", "--dry-run"]
        proc = subprocess.run(
            [sys.executable, "-m", "cdpflow.cli.main", *command],
            capture_output=True,
            text=True,
            env={**env, "CDPFLOW_IDLE_THRESHOLD_MINUTES": "0.0001"},
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert "would terminate" in proc.stdout and "left-open" in proc.stdout
        assert SECRET not in proc.stdout + proc.stderr
        assert answers(idle)


def test_a_url_from_the_airflow_edge_takes_the_place_of_the_setting(tmp_path, pg):
    settings = load_settings(env={"CDPFLOW_IDLE_DB_CONN_ID": "warehouse"}, home=tmp_path)
    result = delete_idle_db_connections.run(settings, db_url=pg.url("app"), dry_run=True)
    assert not result.not_run and result.database == pg.url("app")
    bad = pg.url("app", database="nosuchdb", password=SECRET)
    with pytest.raises(TerminalError, match="Airflow connection `warehouse`") as caught:
        delete_idle_db_connections.run(settings, db_url=bad)
    assert SECRET not in str(caught.value)
