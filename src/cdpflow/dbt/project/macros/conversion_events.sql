{# The configured conversion event names as a SQL list literal. #}
{% macro conversion_event_names() -%}
    [{%- for name in var('conversion_events') %}'{{ name | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}]::varchar[]
{%- endmacro %}

{% macro is_conversion(event_name) -%}
    list_contains({{ conversion_event_names() }}, {{ event_name }})
{%- endmacro %}
