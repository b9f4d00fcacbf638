"""A real browser sends events with Segment's analytics.js (`@segment/analytics-next` from npm)
from a page on another origin to the collector: CORS included, events intact in core_events.

Needs Debian's `chromium` and the npm package; `.ci/run` installs both (the package into
`.venv/browser`). Without them the test skips, naming what is missing.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from support.collector import thread_server
from support.lake import LATER
from support.ports import free_port

from cdpflow.collector.auth import add_source
from cdpflow.jobs.events_incremental import run
from cdpflow.secrets import open_secrets
from cdpflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MODULES = Path(os.environ.get("CDPFLOW_TEST_BROWSER_MODULES", ROOT / ".venv/browser/node_modules"))
BUNDLE = MODULES / "@segment/analytics-next/dist/umd"

PAGE = """<!doctype html><html><head><title>Shop</title>
<script src="/analytics-next/bundles/index.js"></script></head>
<body><div id="out">waiting</div><script>
const out = document.getElementById("out");
const collector = "http://127.0.0.1:{cport}";
AnalyticsNext.AnalyticsBrowser.load({{
  writeKey: "{key}",
  cdnURL: "http://localhost:{sport}",
  cdnSettings: {{integrations: {{"Segment.io": {{
    apiKey: "{key}", apiHost: "127.0.0.1:{cport}/v1", protocol: "http"}}}}}},
}}).then(async ([analytics]) => {{
  await analytics.page("Home", {{section: "front"}});
  await analytics.track("Product Viewed", {{sku: "A-1", price: 19.5}});
  await analytics.identify("user-1", {{email: "B@Example.com"}});
  // a JSON POST needs a CORS preflight; the answer is readable only with CORS headers
  const answer = await fetch(collector + "/v1/track", {{
    method: "POST", headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{writeKey: "{key}", event: "Preflighted", messageId: "pf-1",
                          anonymousId: "pf-anon", timestamp: new Date().toISOString()}})}});
  out.textContent = "done " + answer.status + " " + JSON.stringify(await answer.json());
}}).catch((err) => {{ out.textContent = "error " + err; }});
</script></body></html>
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    pytest.skip("no Chromium: `apt-get install chromium` (Debian's package; .ci/run does it)")


def test_a_browser_sdk_delivers_events_across_origins(
    settings: Settings, tmp_path: Path, query
) -> None:
    chromium = _chromium()
    if not (BUNDLE / "index.js").exists():
        pytest.skip(
            f"no analytics.js bundle at {BUNDLE}: `npm install --prefix .venv/browser "
            "@segment/analytics-next` (.ci/run does it)"
        )
    key = add_source(open_secrets(settings), "browser")
    site = tmp_path / "site"
    (site / "analytics-next").mkdir(parents=True)
    (site / "analytics-next/bundles").symlink_to(BUNDLE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    sport = free_port()
    static = http.server.ThreadingHTTPServer(("127.0.0.1", sport), handler)
    threading.Thread(target=static.serve_forever, daemon=True).start()
    try:
        with thread_server(settings) as url:
            cport = url.rsplit(":", 1)[1]
            (site / "index.html").write_text(PAGE.format(key=key, cport=cport, sport=sport))
            browser = subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    f"--user-data-dir={tmp_path / 'profile'}",
                    "--virtual-time-budget=15000",
                    "--dump-dom",
                    f"http://localhost:{sport}/index.html",  # another origin than the collector
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
    finally:
        static.shutdown()
        static.server_close()
    assert 'done 200 {"success":true}' in browser.stdout, browser.stdout[-2000:]

    result = run(settings, now=LATER)
    assert (result.written, result.quarantined) == (4, 0)
    rows = {r["event_name"] or r["event_type"]: r for r in query("SELECT * FROM core_events")}
    assert set(rows) == {"Home", "Product Viewed", "identify", "Preflighted"}
    page, track, identify = rows["Home"], rows["Product Viewed"], rows["identify"]
    assert page["url"] == f"http://localhost:{sport}/index.html" and page["page_title"] == "Shop"
    assert '"sku":"A-1"' in track["properties"].replace(" ", "")
    assert identify["user_id"] == "user-1" and identify["email"] == "b@example.com"
    assert page["anonymous_id"] == track["anonymous_id"] == identify["anonymous_id"]
    assert {r["source"] for r in rows.values()} == {"browser"}
    assert "HeadlessChrome" in track["user_agent"]
