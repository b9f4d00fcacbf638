{#
  A number that orders rows by `time`, then by `id` (its hash): the key of arg_min/arg_max for
  "the first row by time, ties broken the same way every run". A plain number keeps the
  aggregate fast, where a (time, id) struct key makes it about three times slower.
#}
{% macro time_then_id(time, id) -%}
    (epoch_us({{ time }})::hugeint * 18446744073709551616 + hash({{ id }})::hugeint)
{%- endmacro %}
