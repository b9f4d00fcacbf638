{# Generic tests this project needs beyond dbt's four built-in ones. #}

{% test unique_combination_of(model, combination_of_columns) %}
    select {{ combination_of_columns | join(', ') }}, count(*) as copies
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}

{% test between(model, column_name, min_value, max_value) %}
    select * from {{ model }}
    where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{% test expression_is_true(model, expression) %}
    select * from {{ model }} where not ({{ expression }})
{% endtest %}
