{#
  The offline tables' fields in the canonical forms identities holds them in
  (cdpflow.identity.normalize), so an order or customer record finds its person: emails
  trimmed and lower-cased (null unless an address), phones as E.164 (a bare 10-digit number is
  North American), other ids trimmed.
#}
{% macro normalized_email(value) -%}
    case when regexp_full_match(lower(trim({{ value }})), '[^@\s]+@[^@\s]+\.[^@\s]+')
        then lower(trim({{ value }})) end
{%- endmacro %}

{% macro normalized_phone(value) -%}
    {%- set digits = "regexp_replace(trim(" ~ value ~ "), '[^0-9]', '', 'g')" -%}
    {%- set full -%}
        case
            when starts_with(trim({{ value }}), '+') then {{ digits }}
            when starts_with(trim({{ value }}), '00') then substr({{ digits }}, 3)
            when length({{ digits }}) = 10 then '1' || {{ digits }}
            when length({{ digits }}) = 11 and starts_with({{ digits }}, '1') then {{ digits }}
        end
    {%- endset -%}
    case when length({{ full }}) between 8 and 15 and not starts_with({{ full }}, '0')
        then '+' || {{ full }} end
{%- endmacro %}

{# A consent flag as sources write it: true/false, yes/no, 1/0, subscribed/unsubscribed. #}
{% macro flag(value) -%}
    case
        when lower(trim({{ value }})) in ('true', 't', 'yes', 'y', '1', 'subscribed') then true
        when lower(trim({{ value }})) in ('false', 'f', 'no', 'n', '0', 'unsubscribed',
            'not_subscribed') then false
    end
{%- endmacro %}
