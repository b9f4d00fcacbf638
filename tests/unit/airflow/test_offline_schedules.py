"""id_stitching_incremental also runs when an ELT table is updated, events_unified_view when a
table with a role is; without pipelines their schedules are what they were."""

from __future__ import annotations

from cdpflow.airflow.dag_factory import SPECS, Updates
from cdpflow.settings import Settings

POS = (
    "type: files\nresources:\n"
    "  orders: {primary_key: id, path: o.csv, role: orders}\n"
    "  stock: {primary_key: sku, path: s.csv}\n"
)


def _condition(dag_id: str, settings: Settings):  # type: ignore[no-untyped-def]
    schedule = SPECS[dag_id].schedule
    assert isinstance(schedule, Updates)
    return schedule.condition(settings)


def _assets(condition) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(a.name for a in condition.objects)


def test_id_stitching_runs_on_its_cron_or_when_an_elt_table_updates(settings: Settings):
    assert _condition("id_stitching_incremental", settings) == "0 */4 * * *"
    (settings.home / "pipelines").mkdir(parents=True)
    (settings.home / "pipelines" / "pos.yml").write_text(POS)
    (settings.home / "pipelines" / "broken.yml").write_text("type: files\n")
    timetable = _condition("id_stitching_incremental", settings)
    assert timetable.timetable.expression == "0 */4 * * *"
    assert _assets(timetable.asset_condition) == ["pos__orders", "pos__stock"]
    unified = _condition("events_unified_view", settings)
    assert _assets(unified) == ["core_events", "identities", "pos__orders"]
