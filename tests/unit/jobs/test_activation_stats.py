"""The alert activation_stats e-mails for flagged destinations, and its one-line summary."""

from __future__ import annotations

from datetime import date

from cdpflow.jobs.activation_stats import StatsResult, _alert_text

DAY = date(2026, 11, 19)
FAILING = {"destination": "crm-hook", "type": "webhook", "runs": 3, "status": "failing"}
DRIFT = {
    "destination": "vip-klaviyo",
    "type": "klaviyo",
    "status": "drift",
    "drift": -12,
    "acknowledged": 120,
    "reported_low": 108,
    "reported_high": 108,
}
RANGE = {
    **DRIFT,
    "destination": "vip-meta",
    "type": "meta",
    "reported_low": 90,
    "reported_high": 100,
    "drift": -20,
}


def test_the_alert_says_what_is_wrong_with_each_destination_and_how_to_look() -> None:
    assert _alert_text(DAY, [FAILING, DRIFT, RANGE], 5) == (
        "activation_stats for 2026-11-19 flagged these destinations:\n"
        "\n"
        "- crm-hook (webhook): failing: all 3 run(s) of the day failed; see `cdpflow sql "
        "\"select * from activation_runs where destination = 'crm-hook'\"`\n"
        "- vip-klaviyo (klaviyo): drift -12: cdpflow acknowledged 120 members, the channel "
        "reports 108 (more than 5% apart)\n"
        "- vip-meta (meta): drift -20: cdpflow acknowledged 120 members, the channel reports "
        "90-100 (more than 5% apart)\n"
        "\n"
        "Rows: cdpflow sql \"select * from activation_stats where day = '2026-11-19'\""
    )


def test_the_summary_names_flagged_destinations_and_who_was_told() -> None:
    ok = {"destination": "newsletter", "status": "ok"}
    flagged = StatsResult(DAY, [ok, FAILING, DRIFT], "ops@shop.example.com")
    assert flagged.summary() == (
        "activation_stats 2026-11-19: 3 destinations; crm-hook failing, vip-klaviyo drift; "
        "e-mailed ops@shop.example.com"
    )
    assert StatsResult(DAY, [ok]).summary() == "activation_stats 2026-11-19: 1 destinations, all ok"
