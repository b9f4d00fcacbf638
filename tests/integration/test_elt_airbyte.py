"""An `airbyte` pipeline against a local server that enforces Airbyte's public API: the job
lifecycle, 409 while a sync runs, token auth with expiry; landing what the destination wrote."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.airbyte import AirbyteServer, airbyte_server

from cdpflow.elt.airbyte import SyncFailed
from cdpflow.elt.airbyte_client import (
    AirbyteAuthRefused,
    AirbyteClient,
    AirbyteRefused,
    Credentials,
)
from cdpflow.elt.job import run
from cdpflow.jobs import Interval
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings

CLIENT_ID, CLIENT_SECRET = "app-7f3e", "cs-very-secret-4c1d9a"
CUSTOMERS = [
    {"id": 1, "email": "ada@example.com", "updated_at": "2026-11-01T10:00:00Z"},
    {"id": 2, "email": "grace@example.com", "updated_at": "2026-11-02T11:00:00Z"},
]
ORDERS = [
    {"order_id": "o-1", "customer_id": 1, "total_price": 25.5},
    {"order_id": "o-2", "customer_id": 2, "total_price": 40.0},
]


@pytest.fixture
def airbyte() -> Iterator[AirbyteServer]:
    with airbyte_server(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as server:
        yield server


def _pipeline(settings: Settings, server: AirbyteServer, dest: Path, *, auth: bool = True):
    """Pipeline `warehouse` on a new connection writing customers (JSON lines, nested) and
    orders (Parquet, flattened) into `dest`; with auth, its credentials stored as secrets."""
    connection = server.add_connection(dest, format={"customers": "jsonl", "orders": "parquet"})
    secrets = (
        "client_id_secret: wh_client_id\nclient_secret_secret: wh_client_secret\n" if auth else ""
    )
    folder = settings.home / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "warehouse.yml").write_text(
        f"type: airbyte\nconnection_id: {connection.id}\n{secrets}resources:\n"
        f"  customers: {{primary_key: id, cursor: updated_at, path: '{dest}/customers/*.jsonl'}}\n"
        f"  orders: {{primary_key: order_id, path: '{dest}/orders/*.parquet'}}\n"
    )
    if auth:
        open_secrets(settings).put_many(
            {"wh_client_id": CLIENT_ID, "wh_client_secret": CLIENT_SECRET}
        )
    return connection


@pytest.fixture
def fast(settings: Settings, airbyte: AirbyteServer) -> Settings:
    """Settings pointed at the fake (AIRBYTE_URL), polling without pauses."""
    return dataclasses.replace(settings, airbyte_url=airbyte.url, airbyte_poll_seconds=0)


def test_a_succeeded_sync_lands_each_stream_as_a_table(fast, airbyte, tmp_path, query):
    connection = _pipeline(fast, airbyte, tmp_path / "dest")
    connection.records = {"customers": CUSTOMERS, "orders": ORDERS}

    result = run(fast, Interval(), name="warehouse")

    [job] = airbyte.jobs.values()
    assert job.status == "succeeded"
    # POST answered pending; the polls saw running, running, succeeded
    assert airbyte.count("GET", f"/jobs/{job.id}") == 3
    assert result.loaded == {"warehouse__customers": 2, "warehouse__orders": 2}
    assert f"Airbyte job {job.id} (status `succeeded`" in result.summary()
    # the nested record's fields are the columns; Airbyte's metadata stays beside them
    customers = query(
        "SELECT id, email, _airbyte_raw_id IS NOT NULL AS has_raw_id "
        "FROM warehouse__customers ORDER BY id"
    )
    assert customers == [
        {"id": 1, "email": "ada@example.com", "has_raw_id": True},
        {"id": 2, "email": "grace@example.com", "has_raw_id": True},
    ]
    assert query("SELECT order_id, total_price FROM warehouse__orders ORDER BY 1") == [
        {"order_id": "o-1", "total_price": 25.5},
        {"order_id": "o-2", "total_price": 40.0},
    ]
    assert airbyte.token_requests == 1  # one token served the whole run


@pytest.mark.parametrize("ending", ["failed", "cancelled"])
def test_a_failed_or_cancelled_job_fails_the_run_and_commits_nothing(
    fast, airbyte, tmp_path, ending
):
    connection = _pipeline(fast, airbyte, tmp_path / "dest")
    connection.records = {"customers": CUSTOMERS}
    connection.plan = (("pending", 1), ("running", 1), (ending, 0))

    with pytest.raises(
        SyncFailed, match=rf"ended `{ending}` \(after .*\); nothing was landed"
    ) as err:
        run(fast, Interval(), name="warehouse")

    [job] = airbyte.jobs.values()
    assert f"Airbyte job {job.id}" in str(err.value) and connection.id in str(err.value)
    tables = TableStore(Lake(fast.lake_url))
    assert tables.current("warehouse__customers") is None
    assert tables.current("warehouse__orders") is None


def test_a_sync_already_running_is_attached_to_not_failed(fast, airbyte, tmp_path, query):
    connection = _pipeline(fast, airbyte, tmp_path / "dest")
    connection.records = {"customers": CUSTOMERS}
    # a sync someone started in Airbyte's UI, not yet running (pending also answers 409)
    with AirbyteClient("ui", airbyte.url, Credentials(CLIENT_ID, CLIENT_SECRET, ("a", "b"))) as ui:
        running, _ = ui.start_sync(connection.id)

    result = run(fast, Interval(), name="warehouse")

    assert airbyte.count("POST", "/jobs", 409) == 1
    assert list(airbyte.jobs) == [running.id]  # no second job
    assert result.synced.startswith(f"attached to a running sync, Airbyte job {running.id}")
    assert query("SELECT count(*) AS n FROM warehouse__customers") == [{"n": 2}]


def test_a_second_sync_lands_only_the_files_it_wrote(settings, tmp_path, query):
    with airbyte_server() as oss:  # Airbyte OSS without auth: no credentials, no header
        fast = dataclasses.replace(settings, airbyte_url=oss.url, airbyte_poll_seconds=0)
        connection = _pipeline(fast, oss, tmp_path / "dest", auth=False)
        connection.records = {"customers": CUSTOMERS, "orders": ORDERS}
        run(fast, Interval(), name="warehouse")
        changed = {
            **CUSTOMERS[1],
            "email": "grace@new.example",
            "updated_at": "2026-11-05T09:00:00Z",
        }
        new = {"id": 3, "email": "alan@example.com", "updated_at": "2026-11-05T09:30:00Z"}
        connection.records = {"customers": [changed, new]}

        second = run(fast, Interval(), name="warehouse")
        third = run(fast, Interval(), name="warehouse")  # a sync that wrote nothing

    assert oss.token_requests == 0 and len(oss.jobs) == 3
    assert second.loaded == {"warehouse__customers": 2, "warehouse__orders": 0}
    assert third.loaded == {"warehouse__customers": 0, "warehouse__orders": 0}
    assert query("SELECT id, email FROM warehouse__customers ORDER BY id") == [
        {"id": 1, "email": "ada@example.com"},
        {"id": 2, "email": "grace@new.example"},
        {"id": 3, "email": "alan@example.com"},
    ]
    assert query("SELECT count(*) AS n FROM warehouse__orders") == [{"n": 2}]


def test_bad_credentials_are_terminal_naming_the_secrets_never_their_values(
    fast, airbyte, tmp_path
):
    _pipeline(fast, airbyte, tmp_path / "dest")
    open_secrets(fast).put("wh_client_secret", "cs-wrong-8e2b77")

    with pytest.raises(AirbyteAuthRefused) as err:
        run(fast, Interval(), name="warehouse")

    message = str(err.value)
    assert "Pipeline `warehouse`" in message and "HTTP 401" in message
    assert "`wh_client_id`" in message and "cdpflow secrets set wh_client_secret" in message
    assert CLIENT_ID not in message and "cs-wrong-8e2b77" not in message
    assert airbyte.jobs == {}  # no sync was started
    assert TableStore(Lake(fast.lake_url)).current("warehouse__customers") is None


def test_a_server_that_wants_auth_says_which_keys_to_set(fast, airbyte, tmp_path):
    _pipeline(fast, airbyte, tmp_path / "dest", auth=False)
    with pytest.raises(AirbyteAuthRefused, match=r"requires authentication .*`client_id_secret`"):
        run(fast, Interval(), name="warehouse")


def test_an_unknown_connection_is_terminal_naming_it(fast, airbyte, tmp_path):
    connection = _pipeline(fast, airbyte, tmp_path / "dest")
    del airbyte.connections[connection.id]
    with pytest.raises(AirbyteRefused, match=rf"no connection `{connection.id}`.*connection_id"):
        run(fast, Interval(), name="warehouse")


def test_an_expired_token_is_refreshed(airbyte, tmp_path):
    now = [0.0]
    credentials = Credentials(CLIENT_ID, CLIENT_SECRET, ("a", "b"))
    connection = airbyte.add_connection(tmp_path)
    with AirbyteClient("p", airbyte.url, credentials, clock=lambda: now[0]) as client:
        job, _ = client.start_sync(connection.id)
        # revoked early (Airbyte's docs disagree on the lifetime): a 401, then a fresh token
        airbyte.expire_tokens()
        assert client.job(job.id).status == "running"
        assert airbyte.count("GET", f"/jobs/{job.id}", 401) == 1
        assert airbyte.token_requests == 2
        # past `expires_in` by the client's own clock: renewed before the call, no 401
        now[0] += airbyte.token_seconds
        client.job(job.id)
        assert airbyte.token_requests == 3
        assert airbyte.count("GET", f"/jobs/{job.id}", 401) == 1


def test_throttling_and_faults_are_retried_honouring_retry_after(airbyte, tmp_path):
    connection = airbyte.add_connection(tmp_path)
    waits: list[float] = []
    airbyte.faults, airbyte.retry_after = [429, 503], "7"
    credentials = Credentials(CLIENT_ID, CLIENT_SECRET, ("a", "b"))
    with AirbyteClient("p", airbyte.url, credentials, sleep=waits.append) as client:
        job, attached = client.start_sync(connection.id)
    assert not attached and job.status == "pending"
    assert len(waits) == 2 and waits[0] >= 7.0  # the token request was throttled, then a 503


def test_the_dag_steps_start_then_poll_until_the_job_ends(fast, airbyte, tmp_path):
    """What the Airflow tasks call: `trigger` once, then the sensor's pokes."""
    from cdpflow.elt.airbyte import start_sync, sync_done
    from cdpflow.elt.config import Source, load_pipeline

    connection = _pipeline(fast, airbyte, tmp_path / "dest")
    pipeline = load_pipeline(fast, "warehouse")
    source = Source(fast, open_secrets(fast))
    job_id = start_sync(pipeline, source)
    assert start_sync(pipeline, source) == job_id  # a retried trigger attaches
    assert [sync_done(pipeline, source, job_id) for _ in range(3)] == [False, False, True]

    connection.plan = (("running", 2), ("failed", 0))
    failing = start_sync(pipeline, source)
    assert sync_done(pipeline, source, failing) is False
    with pytest.raises(SyncFailed, match=f"Airbyte job {failing} of connection .* ended `failed`"):
        sync_done(pipeline, source, failing)
