"""The Segment payload: where each field is (Segment's HTTP tracking spec), as plain data.

Each map is {name: JSON path}; the engine reads every path of a map in one parse, naming the
value `s_<name>`. Ids and names in STRING_FIELDS must be JSON strings.
"""

from __future__ import annotations

SEGMENT_TYPES = ("track", "page", "screen", "identify", "alias", "group")

# The batch envelope's own field, read with the line.
ENVELOPE_PATHS = {"envelope_sent_at": "sentAt"}
MESSAGE_PATHS = {
    "type": "type",
    "message_id": "messageId",
    "anonymous_id": "anonymousId",
    "user_id": "userId",
    "previous_id": "previousId",
    "group_id": "groupId",
    "event": "event",
    "name": "name",
    "timestamp": "timestamp",
    "original_timestamp": "originalTimestamp",
    "sent_at": "sentAt",
    "session_id": "context.sessionId",
    "page_url": "context.page.url",
    "page_path": "context.page.path",
    "page_referrer": "context.page.referrer",
    "page_title": "context.page.title",
    "page_search": "context.page.search",
    "campaign_source": "context.campaign.source",
    "campaign_medium": "context.campaign.medium",
    "campaign_name": "context.campaign.name",
    "campaign_term": "context.campaign.term",
    "campaign_content": "context.campaign.content",
    "context_traits_email": "context.traits.email",
    "context_traits_phone": "context.traits.phone",
    "context_user_agent": "context.userAgent",
    "context_ip": "context.ip",
    "properties": "properties",
    "traits": "traits",
}
# Read from the `properties` and `traits` objects once they are split off the message.
PROPERTY_PATHS = {
    "prop_url": "url",
    "prop_path": "path",
    "prop_referrer": "referrer",
    "prop_title": "title",
    "prop_search": "search",
    "prop_name": "name",
    "prop_email": "email",
    "prop_order_id": "order_id",
    "prop_order_id_camel": "orderId",
    "prop_transaction_id": "transaction_id",
    "prop_revenue": "revenue",
    "prop_total": "total",
    "prop_value": "value",
    "prop_currency": "currency",
}
TRAIT_PATHS = {"traits_email": "email", "traits_phone": "phone"}
# Segment's context.campaign names of the UTM tags (campaign.name is utm_campaign); a tag in the
# page's query string is read only where the campaign context lacks it.
CAMPAIGN_OF_UTM = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "name",
    "utm_term": "term",
    "utm_content": "content",
}
STRING_FIELDS = ("messageId", "anonymousId", "userId", "previousId", "groupId")
# Segment's rule for a time in the future: an event time later than its receive time by more
# than this is replaced by the receive time. A day, so a device clock set to the wrong time
# zone (up to 14 hours ahead, with no sentAt to correct it) keeps its times.
FUTURE_TOLERANCE_HOURS = 24
