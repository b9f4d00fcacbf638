{#
  dbt's hook for a test's `where` config, extended with one token: `__rows_of_this_run__` tests
  only the rows the current run wrote (its batch) in an incremental run, and every row in a full
  one. Sound for the incremental marts: delete+insert replaces every stored row sharing a key
  with a new one, so keys stay unique when the new rows are; and it keeps hourly tests from
  re-reading millions of rows that passed before.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where == '__rows_of_this_run__' -%}
        {%- if flags.FULL_REFRESH -%}
            {%- set where = none -%}
        {%- else -%}
            {%- set where = '_batch_id = ' ~ run_batch_id() -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
