"""The entities step of `make demo`: sample traffic to the marts, the example entities copied in,
`cdpflow run entity_creation`, then the demo's two queries show segment sizes and the purchase
funnel."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.cli import cdpflow

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).parents[2] / "examples" / "entities"


def sql(home: Path, query: str) -> list[dict]:
    return json.loads(cdpflow(home, "sql", query, "--format", "json").stdout)


def test_the_demo_shows_segment_sizes_and_the_purchase_funnel(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cdpflow(home, "generate-sample", "--days", "3", "--visitors", "300", "--seed", "42")
    for job in ("events_incremental", "id_stitching_incremental", "events_unified_view"):
        cdpflow(home, "run", job)
    (home / "entities").mkdir()
    for example in EXAMPLES.glob("*.yml"):
        shutil.copy(example, home / "entities")
    ran = cdpflow(home, "run", "entity_creation").stdout
    assert "2 segment(s), 1 funnel(s)" in ran and "broken" not in ran

    sizes = sql(home, "SELECT segment, day, size FROM segment_sizes ORDER BY ALL")
    assert {s["segment"] for s in sizes} == {"big_spenders", "repeat_buyers"}
    (people,) = sql(home, "SELECT count(*) AS n FROM customer_360 WHERE revenue > 150")
    last = {s["segment"]: s["size"] for s in sizes}  # ORDER BY day: the last day wins
    assert last["big_spenders"] == people["n"] > 0

    funnel = sql(
        home,
        "SELECT step, step_label, sum(users) AS users FROM funnel_steps "
        "WHERE funnel = 'purchase' GROUP BY ALL ORDER BY step",
    )
    assert [f["step_label"] for f in funnel] == [
        "Product Viewed", "Product Added", "Checkout Started", "Order Completed",
    ]  # fmt: skip
    users = [int(f["users"]) for f in funnel]  # a HUGEINT sum: text in JSON
    assert users[0] > users[1] > users[3] > 0 and users == sorted(users, reverse=True)
