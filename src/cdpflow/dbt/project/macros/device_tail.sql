{#
  Incremental strategy `device_tail`: the new rows replace, per device (anonymous_id), every
  stored row from the device's earliest new row on (by the `tail_column` config), rows the new
  ones no longer hold included (two sessions a late event joined). The sessionized models
  recompute a device only from the visit its new events fall in: what came before cannot
  change, so it is neither recomputed nor rewritten.
#}
{% macro get_incremental_device_tail_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set tail = config.require("tail_column") -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }} as stored
    using (
        select anonymous_id, min({{ tail }}) as tail_start
        from {{ source }}
        group by anonymous_id
    ) as tails
    where stored.anonymous_id = tails.anonymous_id
        and stored.{{ tail }} >= tails.tail_start;

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}
