{# The columns unique_events carries from core_events, in order: core_events' own list
   (cdpflow.events.schema, passed by the job as the var core_events_columns), with session_id as
   stg_lake__pending_events renames it, tracker_session_id. #}
{% macro event_columns(prefix='') -%}
    {%- for col in var('core_events_columns') -%}
        {{ prefix }}{{ 'tracker_session_id' if col == 'session_id' else col }}{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
