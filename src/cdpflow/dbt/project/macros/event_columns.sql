{# The columns unique_events carries from core_events, in order. #}
{% macro event_columns(prefix='') -%}
    {%- set cols = [
        'event_id', 'event_type', 'event_name', 'event_time', 'received_at', 'sent_at',
        'anonymous_id', 'user_id', 'previous_id', 'group_id', 'tracker_session_id', 'url', 'path',
        'referrer', 'page_title', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term',
        'utm_content', 'gclid', 'fbclid', 'msclkid', 'ttclid', 'email', 'phone', 'map_id',
        'map_provider', 'order_id', 'revenue', 'currency', 'properties', 'traits', 'user_agent',
        'ip', 'source', 'payload_format', 'event_date'
    ] -%}
    {%- for col in cols %}{{ prefix }}{{ col }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}
