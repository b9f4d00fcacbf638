"""The core_events row of a Segment message and of a Blotout event, as SQL over the columns
both flatten renderers name alike (`s_` + a Segment field, `b_` + a Blotout field, the item's
keys, `broken_rule`, `q_` + a query-string parameter), rendered through the engine's `Dialect`.

The columns come in rows as DuckDB's statement lays them out, a line each: the DuckDB renderer
writes the rows as lines, the Spark renderer takes the columns one by one.
"""

from __future__ import annotations

from cdpflow.engine import flatten_rules as rules
from cdpflow.engine.flatten_rules import ITEM_KEYS, UTM_OF, Dialect
from cdpflow.events.names import CLICK_IDS, UTM_TAGS

Rows = list[tuple[str, ...]]
_TEXT, _TIME = "string", "timestamp"  # core_events (lake) types of the NULL columns


def _head(code: str, reason: str) -> Rows:
    """The item's keys and, for a row that breaks a rule, its text, code and reason."""
    raw = "CASE WHEN broken_rule IS NOT NULL THEN item END AS raw"
    return [(*ITEM_KEYS, raw), (f"{code} AS reason_code", f"{reason} AS reason")]


def segment_rows(d: Dialect, code: str, reason: str) -> Rows:
    """A Segment message's event row; `code` and `reason` are the rules' CASEs."""
    utms = tuple(
        f"{d.first(f's_campaign_{c}', rules.decoded(d, f'q_{u}'))} AS {u}" for c, u in UTM_OF
    )
    return [
        *_head(code, reason),
        ("s_message_id AS event_id",),
        ("type_ AS event_type",),
        (
            "CASE type_ WHEN 'track' THEN s_event\n"
            "               WHEN 'page' THEN coalesce(s_name, s_prop_name, 'page')\n"
            "               WHEN 'screen' THEN coalesce(s_name, s_prop_name, 'screen')\n"
            "               ELSE type_ END AS event_name",
        ),
        (f"{rules.not_after_receipt('skewed_ts')} AS event_time",),
        ("received_ts AS received_at",),
        ("sent_ts AS sent_at",),
        ("s_anonymous_id AS anonymous_id",),
        ("s_user_id AS user_id",),
        ("s_previous_id AS previous_id",),
        ("s_group_id AS group_id",),
        ("s_session_id AS session_id",),
        ("url_ AS url",),
        (f"{d.first('s_page_path', 's_prop_path', rules.url_path(d, 'url_'))} AS path",),
        ("coalesce(s_page_referrer, s_prop_referrer) AS referrer",),
        ("coalesce(s_page_title, s_prop_title) AS page_title",),
        utms,
        tuple(f"{rules.decoded(d, f'q_{c}')} AS {c}" for c in CLICK_IDS),
        (
            "nullif(lower(trim(coalesce(s_traits_email, s_context_traits_email, s_prop_email))),"
            " '')\n      AS email",
        ),
        ("nullif(trim(coalesce(s_traits_phone, s_context_traits_phone)), '') AS phone",),
        (f"{d.null(_TEXT)} AS map_id",),
        (f"{d.null(_TEXT)} AS map_provider",),
        ("coalesce(s_prop_order_id, s_prop_order_id_camel, s_prop_transaction_id) AS order_id",),
        ("try_cast(coalesce(s_prop_revenue, s_prop_total, s_prop_value) AS DOUBLE) AS revenue",),
        ("upper(s_prop_currency) AS currency",),
        (f"{d.without_write_keys('s_properties')} AS properties",),
        (f"{d.without_write_keys('s_traits')} AS traits",),
        ("coalesce(s_context_user_agent, meta_user_agent) AS user_agent",),
        ("coalesce(s_context_ip, meta_ip) AS ip",),
        ("'segment' AS payload_format",),
    ]


def blotout_rows(d: Dialect, code: str, reason: str) -> Rows:
    """A Blotout event's event row; `code` and `reason` are the rules' CASEs."""
    data = d.without_write_keys("b_data")
    return [
        *_head(code, reason),
        ("b_mid AS event_id",),
        (
            "CASE b_evn WHEN 'sdk_start' THEN 'page' WHEN 'persona' THEN 'identify' "
            "ELSE 'track' END\n      AS event_type",
        ),
        ("b_evn AS event_name",),
        (f"{rules.not_after_receipt(d.from_epoch_ms('evt_ms'))} AS event_time",),
        ("received_ts AS received_at",),
        (f"{d.null(_TIME)} AS sent_at",),
        ("coalesce(b_userid, visitor_id) AS anonymous_id",),
        ("CASE WHEN b_evn = 'persona' THEN b_persona_id END AS user_id",),
        (f"{d.null(_TEXT)} AS previous_id",),
        (f"{d.null(_TEXT)} AS group_id",),
        ("b_session_id AS session_id",),
        ("b_scrn AS url",),
        (f"{d.first('b_data_path', rules.url_path(d, 'b_scrn'))} AS path",),
        ("bo_referrer AS referrer",),
        ("bo_page_title AS page_title",),
        tuple(f"{rules.decoded(d, f'q_{c}')} AS {c}" for c in UTM_TAGS + CLICK_IDS),
        ("nullif(lower(trim(b_persona_email)), '') AS email",),
        ("nullif(trim(b_persona_number), '') AS phone",),
        ("CASE WHEN b_evn = 'map_id' THEN b_map_id END AS map_id",),
        ("CASE WHEN b_evn = 'map_id' THEN b_map_provider END AS map_provider",),
        ("CASE WHEN b_evn = 'transaction' THEN b_transaction_id END AS order_id",),
        (
            "CASE WHEN b_evn = 'transaction' THEN try_cast(b_transaction_total AS DOUBLE) END"
            " AS revenue",
        ),
        ("CASE WHEN b_evn = 'transaction' THEN upper(b_transaction_currency) END AS currency",),
        (f"{data} AS properties",),
        (f"CASE WHEN b_evn = 'persona' THEN {data} END AS traits",),
        ("coalesce(bo_user_agent, meta_user_agent) AS user_agent",),
        ("meta_ip AS ip",),
        ("'blotout' AS payload_format",),
    ]
