"""Identity stitching from lake tables (`table:` sources): a table is read when its snapshot
changed, and then only the rows the ELT run loaded since the last read."""

from __future__ import annotations

from support.lake import lake_query

from cdpflow.elt import job as elt_job
from cdpflow.jobs import Interval, id_stitching_incremental
from cdpflow.settings import Settings

PIPELINE = (
    "type: files\nresources:\n"
    "  members: {primary_key: id, path: 'exports/members-*.csv', columns: {joined: timestamp}}\n"
)
MAPPING = (
    "sources:\n"
    "  - {table: club__members, seen_at: joined, columns: {id: member_id, mail: email}}\n"
    "  - {table: club__never_landed, columns: {id: member_id}}\n"
)


def test_a_table_source_is_read_when_it_changes_and_only_its_new_rows(settings: Settings):
    exports = settings.home / "exports"
    exports.mkdir(parents=True)
    (exports / "members-1.csv").write_text(
        "id,mail,joined\nm1,ann@club.test,2024-01-01T00:00:00Z\nm2,bob@club.test,\n"
    )
    (settings.home / "pipelines").mkdir()
    (settings.home / "pipelines" / "club.yml").write_text(PIPELINE)
    (settings.home / "identity.yaml").write_text(MAPPING)
    elt_job.run(settings, Interval(), name="club")

    first = id_stitching_incremental.run(settings)
    assert (first.offline_tables, first.records) == (1, 2)
    assert "and 1 offline table(s), 2 identifier records" in first.summary()
    rows = lake_query(
        settings,
        "SELECT identifier_value AS v, global_user_id AS p, first_seen_at AS t, source "
        "FROM identities ORDER BY v",
    )
    people = {r["v"]: r["p"] for r in rows}
    assert people["ann@club.test"] == people["m1"] != people["m2"] == people["bob@club.test"]
    assert {r["source"] for r in rows} == {"club__members"}
    assert rows[0]["t"].isoformat().startswith("2024-01-01")  # seen_at: joined
    assert id_stitching_incremental.run(settings).summary().endswith("nothing new to read.")

    (exports / "members-2.csv").write_text("id,mail,joined\nm3,ann@club.test,\n")
    elt_job.run(settings, Interval(), name="club")
    again = id_stitching_incremental.run(settings)
    assert (again.offline_tables, again.records) == (1, 1)  # m1 and m2 were not read again
    people = {r["v"]: r["p"] for r in lake_query(settings, "SELECT identifier_value AS v, "
              "global_user_id AS p FROM identities")}  # fmt: skip
    assert people["m3"] == people["m1"]  # joined by the shared e-mail

    rebuilt = id_stitching_incremental.run(settings, full_rebuild=True)
    assert rebuilt.records == 3
