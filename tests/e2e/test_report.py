"""`cdpflow report` as a user opens it: sample traffic to marts, the HTML file rendered by a real
headless Chromium, every section's text and numbers checked, a screenshot kept.

The screenshot goes to $CDPFLOW_TEST_ARTIFACTS (default .artifacts/ in the checkout)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import cdpflow, sql

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CDPFLOW_TEST_ARTIFACTS", ROOT / ".artifacts"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("report") / "home"
    cdpflow(home, "generate-sample", "--days", "5", "--visitors", "200", "--seed", "11")
    for job in ("events_incremental", "id_stitching_incremental", "events_unified_view"):
        cdpflow(home, "run", job)
    for job in ("attribution", "campaign", "retention"):
        cdpflow(home, "run", job)
    return home


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    pytest.skip("no Chromium: `apt-get install chromium` (Debian's package; .ci/run does it)")


def _browse(page: Path, profile: Path, *mode: str) -> str:
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--window-size=1200,2600",
            "--virtual-time-budget=10000",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _text(dom: str) -> str:
    """The visible words of a dumped DOM: tags and scripts out, whitespace folded."""
    body = dom.split("<body", 1)[1]
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_html_report_shows_every_section_with_the_lake_numbers(
    home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    printed = cdpflow(home, "report", "--out", str(out), "--days", "5").stdout
    assert printed.strip() == str(out.resolve())
    document = out.read_text()
    assert "<script src" not in document and "<link" not in document  # nothing to fetch

    dom = _browse(out, tmp_path / "profile", "--dump-dom")
    text = _text(dom)
    for title in (
        "Customer counts",
        "Sessions and revenue by channel",
        "Attribution model comparison",
        "Campaigns",
        "Weekly activity retention",
        "Segment sizes",
        "Purchase funnel",
    ):
        assert title in text
    # plotly drew the four charts (sessions, revenue, attribution, retention) in the browser
    assert dom.count('class="main-svg"') >= 4, "charts did not render"
    for model in ("first_touch", "last_touch", "linear", "time_decay"):
        assert model in text  # the attribution legend, drawn by plotly.js
    (counts,) = sql(
        home,
        "SELECT count(*) AS people, count(*) FILTER (orders > 0) AS customers FROM customer_360",
    )
    assert f"{counts['people']:,} {counts['customers']:,}" in text
    top = sql(
        home,
        "SELECT coalesce(campaign, '(none)') AS campaign, sum(sessions) AS n "
        "FROM campaign_performance GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1",
    )[0]
    assert top["campaign"] in text
    assert "No segment_sizes table in the lake yet" in text
    assert "No funnel_steps table in the lake yet" in text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _browse(out, tmp_path / "profile2", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


def test_segment_sizes_and_the_funnel_appear_once_their_tables_exist(
    home: Path, tmp_path: Path
) -> None:
    """entity_creation on the example segments and the purchase funnel, as `make demo` runs it."""
    (home / "entities").mkdir(exist_ok=True)
    for example in (ROOT / "examples" / "entities").glob("*.yml"):
        shutil.copy(example, home / "entities" / example.name)
    cdpflow(home, "run", "entity_creation")
    out = tmp_path / "report.html"
    cdpflow(home, "report", "--out", str(out), "--days", "5")
    text = _text(_browse(out, tmp_path / "profile", "--dump-dom"))
    assert "No segment_sizes" not in text and "No funnel_steps" not in text

    (end,) = sql(home, "SELECT max(session_date)::VARCHAR AS day FROM sessions")
    # each segment's size on the last day the job computed it (past `end` just after midnight)
    sizes = sql(
        home,
        "SELECT segment, size FROM segment_sizes WHERE day = (SELECT max(day) FROM segment_sizes)",
    )
    assert sizes and any(row["size"] > 0 for row in sizes)
    for row in sizes:  # first in the segment's row
        assert f"{row['segment']} {row['size']:,} " in text
    steps = sql(  # people who entered the funnel during the report's five days
        home,
        "SELECT step, step_label, sum(users)::BIGINT AS users FROM funnel_steps "
        f"WHERE funnel = 'purchase' AND entry_day > DATE '{end['day']}' - INTERVAL 5 DAY "
        "GROUP BY ALL ORDER BY step",
    )
    assert len(steps) >= 2 and steps[0]["users"] > steps[-1]["users"]
    for row in steps:
        assert f"{row['step']} {row['step_label']} {row['users']:,}" in text
