{{ config(tags=['campaign']) }}
-- One row per day x source x medium x campaign: the sessions it brought, their people and
-- purchases, and the revenue each attribution model credits to it (by the touch's day).
{%- set models = ['first_touch', 'last_touch', 'last_non_direct', 'linear', 'position_based',
                  'time_decay'] %}
with

sessions as (

    -- only the columns used: the CTE is materialized, and sessions are wide
    select
        session_id,
        session_date,
        started_at,
        source,
        medium,
        coalesce(utm_campaign, '(not set)') as campaign,
        coalesce(global_user_id, 'device:' || anonymous_id) as person_key,
        is_engaged,
        conversions,
        revenue
    from {{ ref('sessions') }}

),

first_sessions as (

    select arg_min(session_id, {{ time_then_id('started_at', 'session_id') }}) as session_id
    from sessions
    group by person_key

),

-- a person is new where their first session came from
new_users as (

    select session_date as date, source, medium, campaign, count(*) as new_users
    from sessions
    semi join first_sessions on first_sessions.session_id = sessions.session_id
    group by all

),

session_totals as (

    select
        session_date as date,
        source,
        medium,
        campaign,
        count(*) as sessions,
        count(distinct person_key) as users,
        count(*) filter (where is_engaged) as engaged_sessions,
        sum(conversions) as conversions,
        sum(revenue) as revenue
    from sessions
    group by all

),

attributed as (

    select
        cast(coalesce(touch_time, conversion_time) as date) as date,
        source,
        medium,
        coalesce(utm_campaign, '(not set)') as campaign,
        {%- for model in models %}
        sum(revenue_credit) filter (where model = '{{ model }}') as attributed_revenue_{{ model }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from {{ ref('attribution') }}
    group by all

),

final as (

    select
        coalesce(session_totals.date, attributed.date) as date,
        coalesce(session_totals.source, attributed.source) as source,
        coalesce(session_totals.medium, attributed.medium) as medium,
        coalesce(session_totals.campaign, attributed.campaign) as campaign,
        coalesce(sessions, 0) as sessions,
        coalesce(users, 0) as users,
        coalesce(new_users.new_users, 0) as new_users,
        coalesce(engaged_sessions, 0) as engaged_sessions,
        coalesce(conversions, 0) as conversions,
        coalesce(revenue, 0) as revenue,
        {%- for model in models %}
        coalesce(attributed_revenue_{{ model }}, 0) as attributed_revenue_{{ model }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from session_totals
    left join new_users
        on new_users.date = session_totals.date
        and new_users.source = session_totals.source
        and new_users.medium = session_totals.medium
        and new_users.campaign = session_totals.campaign
    full outer join attributed
        on attributed.date = session_totals.date
        and attributed.source = session_totals.source
        and attributed.medium = session_totals.medium
        and attributed.campaign = session_totals.campaign

)

select * from final
