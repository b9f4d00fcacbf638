"""A session's source, medium and GA4 default channel, built through the real models: one device
per case, one build, every case read back from the sessions mart.

The cases: GA4's channel rules (support.google.com/analytics/answer/9756891) with the rows of
dbt-ga4's unit test of its channel grouping, the hosts and click markers of issue 14, and every
row of Google's source-category table (the seed) as a tagged source and as a referrer.
"""

from __future__ import annotations

import csv
from typing import Any

import pytest
from support.analytics import add_events, event, purchase, set_identities
from support.lake import lake_query

from cdpflow.dbt.models import PROJECT_DIR
from cdpflow.jobs import events_unified_view
from cdpflow.settings import Settings, load_settings

WHEN = "2024-03-04 10:00:00"
SHOP = "https://shop.example.com"
SEED = PROJECT_DIR / "seeds" / "ga4_source_categories.csv"
KIND = {
    "SOURCE_CATEGORY_SEARCH": "Search",
    "SOURCE_CATEGORY_SOCIAL": "Social",
    "SOURCE_CATEGORY_VIDEO": "Video",
    "SOURCE_CATEGORY_SHOPPING": "Shopping",
}


def tagged(source: str = "", medium: str = "", campaign: str = "") -> dict[str, Any]:
    return {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}


def referred(host: str) -> dict[str, Any]:
    return {"referrer": f"https://{host}/some/page?q=1"}


def landing(query: str) -> dict[str, Any]:
    return {"url": f"{SHOP}/p/1?{query}", "path": "/p/1"}


# (case, landing page view's fields, expected (source, medium, channel))
RULES: list[tuple[str, dict[str, Any], tuple[str, str, str]]] = [
    # dbt-ga4's cases, rule by rule
    ("direct", {}, ("(direct)", "(none)", "Direct")),
    (
        "cross-network",
        tagged("some-source", "some-medium", "some-cross-network-campaign"),
        ("some-source", "some-medium", "Cross-network"),
    ),
    (
        "paid shopping by campaign",
        tagged("some-source", "retargeting", "shopping"),
        ("some-source", "retargeting", "Paid Shopping"),
    ),
    ("paid shopping by source", tagged("alibaba", "cpc"), ("alibaba", "cpc", "Paid Shopping")),
    ("paid search", tagged("google", "ppc"), ("google", "ppc", "Paid Search")),
    ("paid social", tagged("facebook", "retargeting"), ("facebook", "retargeting", "Paid Social")),
    (
        "paid video",
        tagged("youtube.com", "paid-something"),
        ("youtube.com", "paid-something", "Paid Video"),
    ),
    ("display", tagged("youtube.com", "display"), ("youtube.com", "display", "Display")),
    ("paid other", tagged("some-source", "cpc"), ("some-source", "cpc", "Paid Other")),
    (
        "organic shopping by source",
        tagged("Google Shopping"),
        ("google shopping", "(not set)", "Organic Shopping"),
    ),
    (
        "organic shopping by campaign",
        tagged("some-source", "", "some-shopping-campaign"),
        ("some-source", "(not set)", "Organic Shopping"),
    ),
    ("organic social by source", tagged("facebook"), ("facebook", "(not set)", "Organic Social")),
    (
        "organic social by medium",
        tagged("some-source", "social"),
        ("some-source", "social", "Organic Social"),
    ),
    (
        "organic video by source",
        tagged("youtube.com"),
        ("youtube.com", "(not set)", "Organic Video"),
    ),
    (
        "organic video by medium",
        tagged("some-source", "video"),
        ("some-source", "video", "Organic Video"),
    ),
    ("organic search by source", tagged("bing"), ("bing", "(not set)", "Organic Search")),
    (
        "organic search by medium",
        tagged("some-source", "organic"),
        ("some-source", "organic", "Organic Search"),
    ),
    ("referral", tagged("some-source", "referral"), ("some-source", "referral", "Referral")),
    ("email by source", tagged("email"), ("email", "(not set)", "Email")),
    ("email by medium", tagged("", "e mail"), ("(not set)", "e mail", "Email")),
    ("affiliates", tagged("some-source", "affiliate"), ("some-source", "affiliate", "Affiliates")),
    ("audio", tagged("some-source", "audio"), ("some-source", "audio", "Audio")),
    ("sms by source", tagged("sms"), ("sms", "(not set)", "SMS")),
    ("sms by medium", tagged("", "sms"), ("(not set)", "sms", "SMS")),
    (
        "push by medium suffix",
        tagged("some-source", "something-push"),
        ("some-source", "something-push", "Mobile Push Notifications"),
    ),
    (
        "push by medium word",
        tagged("some-source", "mobile-notification"),
        ("some-source", "mobile-notification", "Mobile Push Notifications"),
    ),
    (
        "push by firebase source",
        tagged("firebase"),
        ("firebase", "(not set)", "Mobile Push Notifications"),
    ),
    (
        "unassigned",
        tagged("some-source", "some-medium", "some-campaign"),
        ("some-source", "some-medium", "Unassigned"),
    ),
    # subdomains of the table's engines and networks, as referrers
    (
        "yahoo country search",
        referred("uk.search.yahoo.com"),
        ("uk.search.yahoo.com", "organic", "Organic Search"),
    ),
    (
        "yahoo search not in the table",
        referred("kr.search.yahoo.com"),
        ("kr.search.yahoo.com", "organic", "Organic Search"),
    ),
    ("bing china", referred("cn.bing.com"), ("cn.bing.com", "organic", "Organic Search")),
    ("baidu mobile", referred("m.baidu.com"), ("m.baidu.com", "organic", "Organic Search")),
    ("aol search", referred("search.aol.com"), ("search.aol.com", "organic", "Organic Search")),
    ("google news", referred("news.google.com"), ("news.google.com", "organic", "Organic Search")),
    ("google by name", referred("www.google.co.uk"), ("google.co.uk", "organic", "Organic Search")),
    (
        "google brazil",
        referred("www.google.com.br"),
        ("google.com.br", "organic", "Organic Search"),
    ),
    ("duckduckgo", referred("duckduckgo.com"), ("duckduckgo.com", "organic", "Organic Search")),
    ("old reddit", referred("old.reddit.com"), ("old.reddit.com", "referral", "Organic Social")),
    (
        "facebook web",
        referred("web.facebook.com"),
        ("web.facebook.com", "referral", "Organic Social"),
    ),
    (
        "facebook business",
        referred("business.facebook.com"),
        ("business.facebook.com", "referral", "Organic Social"),
    ),
    (
        "facebook locale not in the table",
        referred("de-de.facebook.com"),
        ("de-de.facebook.com", "referral", "Organic Social"),
    ),
    (
        "pinterest brazil",
        referred("br.pinterest.com"),
        ("br.pinterest.com", "referral", "Organic Social"),
    ),
    (
        "a blog on blogspot",
        referred("someone.blogspot.com"),
        ("someone.blogspot.com", "referral", "Organic Social"),
    ),
    (
        "youtube music",
        referred("music.youtube.com"),
        ("music.youtube.com", "referral", "Organic Video"),
    ),
    (
        "vimeo player",
        referred("player.vimeo.com"),
        ("player.vimeo.com", "referral", "Organic Video"),
    ),
    (
        "alibaba mobile",
        referred("m.alibaba.com"),
        ("m.alibaba.com", "referral", "Organic Shopping"),
    ),
    # a subdomain of a name-only entry is just a site: Google Docs is no search engine
    ("google docs", referred("docs.google.com"), ("docs.google.com", "referral", "Referral")),
    ("webmail", referred("mail.google.com"), ("mail.google.com", "email", "Email")),
    ("yahoo webmail", referred("mail.yahoo.com"), ("mail.yahoo.com", "email", "Email")),
    ("a blog", referred("blog.example.org"), ("blog.example.org", "referral", "Referral")),
    # Google Ads' click markers in the landing URL, and Campaign Manager's
    ("gclid", landing("gclid=abc") | {"gclid": "abc"}, ("google", "cpc", "Paid Search")),
    ("gbraid", landing("gbraid=0AAAAA"), ("google", "cpc", "Paid Search")),
    ("wbraid", landing("x=1&wbraid=ClAKCQ"), ("google", "cpc", "Paid Search")),
    ("gad_source", landing("gad_source=1"), ("google", "cpc", "Paid Search")),
    ("dclid", landing("dclid=CJKu8L&gad_source=7"), ("dfa", "cpm", "Display")),
    ("msclkid", {"msclkid": "m1"}, ("bing", "cpc", "Paid Search")),
    ("ttclid", {"ttclid": "t1"}, ("tiktok", "cpc", "Paid Social")),
    (
        "fbclid",
        {"fbclid": "f1"} | referred("l.facebook.com"),
        ("facebook", "referral", "Organic Social"),
    ),
    (
        "tags win over a click marker",
        landing("gbraid=0AAAAA") | tagged("newsletter", "email"),
        ("newsletter", "email", "Email"),
    ),
    # a campaign tag without utm_source is a campaign of source (not set): the referrer is not used
    (
        "campaign without source",
        tagged("", "email", "spring") | referred("www.google.com"),
        ("(not set)", "email", "Email"),
    ),
    ("campaign name only", tagged("", "", "spring"), ("(not set)", "(not set)", "Unassigned")),
    (
        "shopping campaign only",
        tagged("", "", "summer-shopping"),
        ("(not set)", "(not set)", "Organic Shopping"),
    ),
]


def seed_rows() -> list[tuple[str, str]]:
    with SEED.open(newline="") as handle:
        return [(r["source"], r["source_category"]) for r in csv.DictReader(handle)]


def seed_cases() -> list[tuple[str, dict[str, Any], tuple[str, str, str]]]:
    """Every source as utm_source with a paid medium and with none; every host as a referrer."""
    cases = []
    for source, category in seed_rows():
        kind, lowered = KIND[category], source.lower()
        cases.append((f"{source} cpc", tagged(source, "cpc"), (lowered, "cpc", f"Paid {kind}")))
        cases.append(
            (f"{source} untagged medium", tagged(source), (lowered, "(not set)", f"Organic {kind}"))
        )
        if "." in source:
            medium = "organic" if kind == "Search" else "referral"
            cases.append(
                (f"{source} referrer", referred(source), (lowered, medium, f"Organic {kind}"))
            )
    return cases


SEED_CASES = seed_cases()


def device(case: str) -> str:
    return "d:" + case


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str, str]]:
    """(source, medium, channel) of each case's session."""
    settings = load_settings(env={}, home=tmp_path_factory.mktemp("sources") / "home")
    rows = []
    for n, (case, fields, _) in enumerate(RULES + SEED_CASES):
        rows.append(event(f"e{n}", WHEN, anonymous_id=device(case), **fields))
    add_events(settings, rows)
    set_identities(
        settings, {f"P{n}": [("anonymous_id", r["anonymous_id"])] for n, r in enumerate(rows)}
    )
    events_unified_view.run(settings)
    sessions = lake_query(settings, "SELECT anonymous_id, source, medium, channel FROM sessions")
    return {s["anonymous_id"]: (s["source"], s["medium"], s["channel"]) for s in sessions}


@pytest.mark.parametrize(("case", "fields", "expected"), RULES, ids=[c for c, _, _ in RULES])
def test_channel_rule(
    sources: dict[str, tuple[str, str, str]],
    case: str,
    fields: dict[str, Any],
    expected: tuple[str, str, str],
) -> None:
    assert sources[device(case)] == expected


def test_every_source_of_googles_table_gets_its_ga4_channel(
    sources: dict[str, tuple[str, str, str]],
) -> None:
    assert len(SEED_CASES) == 2 * 819 + 555
    wrong = {
        case: (sources[device(case)], expected)
        for case, _, expected in SEED_CASES
        if sources[device(case)] != expected
    }
    assert not wrong


def landing_of(settings: Settings, device_id: str) -> dict[str, Any]:
    (session,) = lake_query(
        settings,
        "SELECT landing_page, referrer, source, medium, channel, utm_campaign, gclid "
        f"FROM sessions WHERE anonymous_id = '{device_id}'",
    )
    return session


def test_the_landing_page_view_wins_a_tie_with_a_purchase(settings: Settings) -> None:
    set_identities(
        settings,
        {
            "P": [("anonymous_id", "tie")],
            "Q": [("anonymous_id", "app")],
            "R": [("anonymous_id", "srv")],
        },
    )
    add_events(
        settings,
        [
            # the purchase's id sorts first: the first event by (time, id) is not the landing
            purchase("tie-order", WHEN, "o1", 10.0, anonymous_id="tie", path="/checkout"),
            event(
                "tie-page",
                WHEN,
                anonymous_id="tie",
                path="/p/31",
                referrer="https://www.google.com/",
            ),
            # an app event before the first screen view: the screen carries the campaign
            event(
                "app-open",
                "2024-03-04 09:59:58",
                anonymous_id="app",
                event_type="track",
                event_name="Application Opened",
            ),
            event(
                "app-screen",
                "2024-03-04 09:59:59",
                anonymous_id="app",
                event_type="screen",
                path="/home",
                utm_source="newsletter",
                utm_medium="email",
                utm_campaign="spring",
                gclid="g-1",
            ),
            # no page or screen view at all: the first event is the landing
            event(
                "srv-1",
                WHEN,
                anonymous_id="srv",
                event_type="track",
                event_name="Signed Up",
                path="/signup",
                utm_source="partner",
                utm_medium="affiliate",
            ),
            event(
                "srv-2",
                "2024-03-04 10:01:00",
                anonymous_id="srv",
                event_type="track",
                event_name="Trial Started",
                path="/trial",
            ),
            # two page views at the same time, then a third: the first by (time, id) lands
            event("two-b", WHEN, anonymous_id="two", path="/b", utm_source="bing"),
            event("two-a", WHEN, anonymous_id="two", path="/a", utm_source="duckduckgo"),
            event("two-c", "2024-03-04 10:02:00", anonymous_id="two", path="/c"),
        ],
    )
    events_unified_view.run(settings)
    two = landing_of(settings, "two")
    assert (two["landing_page"], two["source"]) == ("/a", "duckduckgo")
    tie = landing_of(settings, "tie")
    assert (tie["landing_page"], tie["referrer"], tie["source"], tie["medium"]) == (
        "/p/31",
        "https://www.google.com/",
        "google.com",
        "organic",
    )
    assert tie["channel"] == "Organic Search"
    app = landing_of(settings, "app")
    assert (app["landing_page"], app["source"], app["utm_campaign"], app["gclid"]) == (
        "/home",
        "newsletter",
        "spring",
        "g-1",
    )
    srv = landing_of(settings, "srv")
    assert (srv["landing_page"], srv["source"], srv["channel"]) == (
        "/signup",
        "partner",
        "Affiliates",
    )

    # a page view of that session arriving in a later run becomes its landing
    add_events(
        settings,
        [
            event(
                "srv-view",
                "2024-03-04 10:00:30",
                anonymous_id="srv",
                path="/pricing",
                referrer="https://www.bing.com/",
            )
        ],
    )
    events_unified_view.run(settings)
    srv = landing_of(settings, "srv")
    assert (srv["landing_page"], srv["source"], srv["channel"]) == (
        "/pricing",
        "bing.com",
        "Organic Search",
    )


def test_the_source_table_is_loaded_by_the_first_run_not_hourly(settings: Settings) -> None:
    set_identities(settings, {"P": [("anonymous_id", "x")]})
    add_events(settings, [event("a", WHEN, anonymous_id="x", referrer="https://cn.bing.com/")])
    first = events_unified_view.run(settings)
    assert [s.name for s in first.seeds] == ["ga4_source_categories"]
    add_events(settings, [event("b", "2024-03-05 10:00:00", anonymous_id="x")])
    hourly = events_unified_view.run(settings)
    assert not hourly.full_refresh and hourly.seeds == []
    # one Airflow task builds one model: sessions alone still finds the table
    assert events_unified_view.run(settings, models=["sessions"]).seeds == []
    rows = lake_query(settings, "SELECT channel FROM sessions ORDER BY started_at")
    assert [r["channel"] for r in rows] == ["Organic Search", "Direct"]
