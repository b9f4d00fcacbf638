{#
  Whether a `lake` source is still at the version this model last built from: the lake's table
  registry versions every commit, so an unchanged version means unchanged rows and the model
  can skip reading the source at all (int_people_identities: no identity run since the last
  hour, three hours in four with the default schedules).
#}
{% macro source_unchanged_since_last_build(source) -%}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set found = run_query(
        "select count(*) from cdpflow_state.exposed_sources as exposed "
        ~ "inner join cdpflow_state.source_reads as read on read.source = exposed.source "
        ~ "and read.version = exposed.version "
        ~ "where exposed.source = '" ~ source ~ "' and read.model = '" ~ this.identifier ~ "'"
    ) -%}
    {{- return(found.columns[0].values()[0] | int > 0) -}}
{%- endmacro %}

{# post_hook: remember the version of `source` this build read. #}
{% macro record_source_read(source) -%}
    insert or replace into cdpflow_state.source_reads
    select '{{ this.identifier }}', source, version from cdpflow_state.exposed_sources
    where source = '{{ source }}'
{%- endmacro %}
