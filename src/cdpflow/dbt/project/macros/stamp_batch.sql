{#
  Select `rows` (a CTE without _batch_id) with the run's batch id on rows that are new or
  changed; in an incremental run a row equal to its stored version (same `key`, same values)
  keeps the stored batch id. Publishing rewrites only what carries a newer batch id, so a device
  recomputed whole does not rewrite the days on which nothing changed.
#}
{% macro stamp_batch(rows, key) -%}
    {%- set batch = "cast(" ~ run_batch_id() ~ " as bigint)" -%}
    {%- if is_incremental() %}
    select
        fingerprinted.* exclude (_fingerprint),
        case
            when stored._fingerprint = fingerprinted._fingerprint then stored._batch_id
            else {{ batch }}
        end as _batch_id
    from (select *, hash(*columns(*)) as _fingerprint from {{ rows }}) as fingerprinted
    left join (
        -- the stored rows are found over the key column alone, then fetched by row id
        select {{ key }}, _batch_id, hash(*columns(* exclude (_batch_id))) as _fingerprint
        from {{ this }}
        where rowid in (
            select rowid from {{ this }} where {{ key }} in (select {{ key }} from {{ rows }})
        )
    ) as stored
        on stored.{{ key }} = fingerprinted.{{ key }}
    {%- else %}
    select *, {{ batch }} as _batch_id from {{ rows }}
    {%- endif %}
{%- endmacro %}

{#
  Rows of an upstream model written since this model last built successfully. The batch is
  looked up when the model compiles and inlined as a number, so the scan's filter skips the row
  groups of older batches (rows are appended batch after batch) instead of reading them all.
#}
{% macro written_since_last_build() -%}
    {%- set since = -1 -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select coalesce(max(batch_id), -1) from cdpflow_state.model_builds "
            ~ "where model = '" ~ this.identifier ~ "'"
        ) -%}
        {%- set since = found.columns[0].values()[0] | int -%}
    {%- endif -%}
    _batch_id > {{ since }}
{%- endmacro %}

{#
  The rows of `relation` this model has yet to build from: all of them on a full build, those
  written since its last build (written_since_last_build) on an incremental one.
#}
{% macro rows_to_build_from(relation) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where {{ written_since_last_build() }}
    {%- endif %}
{%- endmacro %}

{# post_hook: remember this run's batch as the model's last successful build. #}
{% macro record_build() -%}
    insert into cdpflow_state.model_builds
    values ('{{ this.identifier }}', cast({{ run_batch_id() }} as bigint), now())
{%- endmacro %}

{#
  The batch id of the run in progress, as a number: the row cdpflow writes before dbt starts
  (not an env var: dbt re-parses every file using an env var whose value changed).
#}
{% macro run_batch_id() -%}
    {%- if execute -%}
        {%- set found = run_query("select max(batch_id) from cdpflow_state.current_run") -%}
        {{- found.columns[0].values()[0] | int -}}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}
