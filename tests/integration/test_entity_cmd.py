"""`cdpflow entity add|list|show|preview|remove` on hand-built marts: what a user sees, that a
wrong file writes nothing, that preview writes nothing, and that a removed entity's rows leave
the tables at the next run (a predefined one not coming back)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result
from support.entities import DAY1, DAY3, entity, events, people
from support.lake import lake_query

from cdpflow.cli.main import cli
from cdpflow.jobs import Interval, entity_creation
from cdpflow.settings import Settings

BIG = """kind: segment
description: Spent over 100
conditions:
  - {trait: revenue, op: greater_than, value: 100}
"""
FUNNEL = "kind: funnel\nsteps: [{event: Product Viewed}, {event: Order Completed}]\n"


def cdpflow(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(
        cli, ["--home", str(settings.home), *args], input=stdin, env={"CDPFLOW_HOME": ""}
    )


def listed(settings: Settings) -> dict[str, str]:
    """`cdpflow entity list`'s lines by entity name."""
    result = cdpflow(settings, "entity", "list")
    assert result.exit_code == 0, result.output
    return {line.split()[0]: line for line in result.output.splitlines()}


def lake_files(settings: Settings) -> dict[str, float]:
    root = Path(settings.lake_url.removeprefix("file://"))
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


def test_add_from_a_file_and_stdin_refusing_an_existing_name_without_force(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "big.yml"
    source.write_text(BIG)
    added = cdpflow(settings, "entity", "add", "big", "--file", str(source))
    assert added.exit_code == 0, added.output
    target = settings.home / "entities" / "big.yml"
    assert target.read_text() == BIG  # the user's text as written, comments and all
    assert "not built yet" in added.output  # no marts: columns are checked by the run

    again = cdpflow(settings, "entity", "add", "big", stdin=FUNNEL)
    assert again.exit_code == 1 and "exists; edit it, or pass --force" in again.output
    assert target.read_text() == BIG
    forced = cdpflow(settings, "entity", "add", "big", "--force", stdin=FUNNEL)
    assert forced.exit_code == 0, forced.output
    assert target.read_text() == FUNNEL


def test_a_wrong_file_is_refused_naming_file_key_and_allowed_values(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "vip.yml"
    source.write_text("kind: segment\nconditions:\n  - {trait: revenue, op: greater, value: 1}\n")
    refused = cdpflow(settings, "entity", "add", "vip", "--file", str(source))
    assert refused.exit_code == 1
    assert f"`op: greater` in {source}, conditions[0]: use one of equals," in refused.output
    assert "nothing written" in refused.output
    assert not (settings.home / "entities" / "vip.yml").exists()

    dangling_text = "kind: segment\nconditions: [{in_segment: nope}]\n"
    dangling = cdpflow(settings, "entity", "add", "p", stdin=dangling_text)
    assert dangling.exit_code == 1
    assert "`in_segment: nope` in stdin, conditions[0]: no such segment" in dangling.output

    people(settings, {"a": 1})
    events(settings, [("a", "Order Completed", DAY1)])
    unknown_text = "kind: segment\nconditions: [{trait: spend, op: is_set}]\n"
    unknown = cdpflow(settings, "entity", "add", "x", stdin=unknown_text)
    assert unknown.exit_code == 1
    assert "`trait: spend` in stdin, conditions[0].trait: customer_360 has no such column" in (
        unknown.output
    )
    assert not (settings.home / "entities").exists()


def test_list_show_preview_and_remove(settings: Settings) -> None:
    people(settings, {"a": 50, "b": 150, "c": 300})
    events(
        settings,
        [
            ("a", "Product Viewed", DAY1),
            ("b", "Product Viewed", DAY1),
            ("b", "Order Completed", DAY1),
        ],
    )
    entity(settings, "big", BIG)
    entity(settings, "purchase", FUNNEL)
    entity(settings, "bad", "kind: segment\nconditions: [{event: X, count: {more_than: 1}}]\n")
    lines = listed(settings)
    assert "segment" in lines["big"] and "user" in lines["big"] and "not run" in lines["big"]
    assert "Spent over 100" in lines["big"]
    assert "broken" in lines["bad"] and "`more_than` in entities/bad.yml" in lines["bad"]

    before = lake_files(settings)
    seen = cdpflow(settings, "entity", "preview", "big")
    assert seen.exit_code == 0, seen.output
    assert seen.output.splitlines() == [
        "big: 2 people",
        "  b  b@example.com",
        "  c  c@example.com",
    ]
    funnel = cdpflow(settings, "entity", "preview", "purchase")
    assert funnel.output.splitlines() == [
        "purchase: 2 people entered step 1",
        "  1. Product Viewed: 2 (100.0% of step 1)",
        "  2. Order Completed: 1 (50.0% of step 1)",
    ]
    assert lake_files(settings) == before  # nothing written to the lake
    broken = cdpflow(settings, "entity", "preview", "bad")
    assert broken.exit_code == 1 and "use one of at_least, at_most, exactly" in broken.output

    shown = cdpflow(settings, "entity", "show", "big", "--sql")
    assert shown.exit_code == 0, shown.output
    assert BIG.rstrip() in shown.output
    assert 'FROM "customer_360" WHERE "revenue" > 100' in shown.output

    entity_creation.run(settings, Interval(end=DAY1))
    lines = listed(settings)
    assert "2 on 2026-11-02" in lines["big"]
    assert "2 entered, 1 converted" in lines["purchase"]

    removed = cdpflow(settings, "entity", "remove", "big")
    assert removed.exit_code == 0, removed.output
    assert not (settings.home / "entities" / "big.yml").exists()
    assert "leave the entity tables at the next entity_creation run" in removed.output
    assert lake_query(settings, "SELECT count(*) AS n FROM segment_members")[0]["n"] == 2
    cdpflow(settings, "entity", "remove", "purchase")
    entity_creation.run(settings, Interval(end=DAY3))
    for table in ("segment_members", "segment_sizes", "funnel_people", "funnel_steps"):
        assert lake_query(settings, f"SELECT count(*) AS n FROM {table}")[0]["n"] == 0, table
    exits = lake_query(
        settings, "SELECT global_user_id, \"at\" FROM segment_changes WHERE change = 'exit' "
        "ORDER BY 1",
    )  # fmt: skip
    assert [(e["global_user_id"], e["at"]) for e in exits] == [("b", DAY3), ("c", DAY3)]
    missing = cdpflow(settings, "entity", "show", "big")
    assert missing.exit_code == 1 and "No entity `big`" in missing.output


def test_a_removed_predefined_entity_stays_removed(settings: Settings) -> None:
    people(settings, {"a": 10})
    events(settings, [("a", "Order Completed", DAY1)])
    (settings.home / "pipelines").mkdir(parents=True)
    (settings.home / "pipelines" / "shop.yml").write_text("type: shopify\nshop: example\n")
    entity_creation.run(settings, Interval(end=DAY1))
    lines = listed(settings)
    assert "predefined" in lines["buyers"] and "1 on 2026-11-02" in lines["buyers"]
    removed = cdpflow(settings, "entity", "remove", "buyers")
    assert "came with the shop pack, which does not recreate it" in removed.output
    entity_creation.run(settings, Interval(end=DAY3))
    assert not (settings.home / "entities" / "buyers.yml").exists()
    segments = lake_query(settings, "SELECT DISTINCT segment FROM segment_members")
    assert "buyers" not in {s["segment"] for s in segments}
    edited = settings.home / "entities" / "repeat_buyers.yml"
    edited.write_text(edited.read_text().replace("at_least: 2", "at_least: 3"))
    lines = listed(settings)
    assert "predefined, edited" in lines["repeat_buyers"]
