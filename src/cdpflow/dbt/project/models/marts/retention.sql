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

{% for g in granularities %}
periods_{{ g }} as (

    select distinct
        retention_type,
        '{{ g }}' as granularity,
        global_user_id,
        date_trunc('{{ g }}', day) as period_start
    from occurrences

),
{% endfor %}

periods as (

    {% for g in granularities %}
    select * from periods_{{ g }}
    {{ "union all" if not loop.last }}
    {% endfor %}

),

cohorts as (

    select retention_type, granularity, global_user_id, min(period_start) as cohort_start
    from periods
    group by all

),

returns as (

    select
        cohorts.retention_type,
        cohorts.granularity,
        cohorts.cohort_start,
        date_diff(cohorts.granularity, cohorts.cohort_start, periods.period_start)
            as period_number,
        count(distinct periods.global_user_id) as retained_users
    from cohorts
    inner join periods
        on periods.retention_type = cohorts.retention_type
        and periods.granularity = cohorts.granularity
        and periods.global_user_id = cohorts.global_user_id
    group by all

),

cohort_sizes as (

    select retention_type, granularity, cohort_start, count(*) as cohort_size
    from cohorts
    group by all

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
