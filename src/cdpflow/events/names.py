"""Names the payload contract shares with settings, identity and the jobs, defined once.

Kept free of imports so settings (read at DAG parse) can use them.
"""

from __future__ import annotations

CORE_EVENTS = "core_events"
QUARANTINE_EVENTS = "quarantine_events"

# The URL query-string parameters read into core_events columns of the same names.
UTM_TAGS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CLICK_IDS = ("gclid", "fbclid", "msclkid", "ttclid")

# Every time an event carries must fall in these years: outside is a unit mistake or garbage
# (`infinity`, year 99999, a BC date) that would break the clock-skew arithmetic and make an
# `event_date` partition no date parser reads.
FIRST_YEAR, LAST_YEAR = 2000, 2100
