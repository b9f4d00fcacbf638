{{ config(tags=['retention']) }}
-- One row per retention type x granularity x cohort x period: of the people whose first activity
-- (or first purchase) fell in the cohort period, how many were active (or purchased) again k
-- periods later. PostHog's first-occurrence retention; weeks start on Monday (ISO); periods run
-- up to the one holding the newest data, and period 0 is the cohort itself.
{%- set granularities = ['day', 'week', 'month'] %}
with

active_days as (

    select * from {{ ref('int_people_active_days') }}

),

occurrences as (

    select 'activity' as retention_type, global_user_id, day from active_days
    union all
    select 'purchase', global_user_id, day from active_days where purchased

),

horizon as (

    select max(day) as last_day from active_days

),

-- each person's first occurrence (their cohort) and the days they occurred: one row per person
-- and type, so the periods below come from their own list instead of a join of every
-- occurrence back to its person's first
people as materialized (

    select retention_type, min(day) as first_day, list(day) as days
    from occurrences
    group by retention_type, global_user_id

),

-- for period k, the people of the cohort with an occurrence k periods after it: each person
-- counts once per period (a person has one occurrence per day, so days need no distinct)
returns as (

    {% for g in granularities %}
    select retention_type, '{{ g }}' as granularity, cohort_start, period_number,
        count(*) as retained_users
    from (
        select
            retention_type,
            date_trunc('{{ g }}', first_day) as cohort_start,
            {%- set periods -%}
                list_transform(days, lambda d: date_diff(
                    '{{ g }}', date_trunc('{{ g }}', first_day), date_trunc('{{ g }}', d)))
            {%- endset %}
            unnest({{ periods if g == 'day' else 'list_distinct(' ~ periods ~ ')' }})
                as period_number
        from people
    )
    group by all
    {{ "union all" if not loop.last }}
    {% endfor %}

),

cohort_sizes as (

    {% for g in granularities %}
    select retention_type, '{{ g }}' as granularity,
        date_trunc('{{ g }}', first_day) as cohort_start, count(*) as cohort_size
    from people
    group by all
    {{ "union all" if not loop.last }}
    {% endfor %}

),

grid as (

    select
        cohort_sizes.*,
        unnest(range(
            0,
            date_diff(granularity, cohort_start, date_trunc(granularity, horizon.last_day)) + 1
        )) as period_number
    from cohort_sizes
    cross join horizon

),

final as (

    select
        grid.retention_type,
        grid.granularity,
        cast(grid.cohort_start as date) as cohort_start,
        grid.period_number,
        grid.cohort_size,
        coalesce(returns.retained_users, 0) as retained_users,
        coalesce(returns.retained_users, 0) / grid.cohort_size as retention_rate
    from grid
    left join returns
        on returns.retention_type = grid.retention_type
        and returns.granularity = grid.granularity
        and returns.cohort_start = grid.cohort_start
        and returns.period_number = grid.period_number

)

select * from final
