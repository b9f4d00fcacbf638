{{ config(tags=['attribution']) }}
-- One row per conversion x touchpoint: the sessions of the converting person that started within
-- COMPUTATION_WINDOW days before the conversion (the converting session included). A conversion
-- with no such session gets one Direct touchpoint with no session, so it is never lost.
with

conversions as (

    select
        *,
        coalesce(global_user_id, 'device:' || anonymous_id) as person_key
    from {{ ref('conversions') }}

),

sessions as (

    select
        *,
        coalesce(global_user_id, 'device:' || anonymous_id) as person_key
    from {{ ref('sessions') }}

),

touches as (

    select
        conversions.order_id,
        conversions.conversion_time,
        conversions.global_user_id,
        conversions.revenue,
        sessions.session_id,
        sessions.started_at as touch_time,
        sessions.channel,
        sessions.source,
        sessions.medium,
        sessions.utm_source,
        sessions.utm_medium,
        sessions.utm_campaign
    from conversions
    inner join sessions
        on sessions.person_key = conversions.person_key
        and sessions.started_at <= conversions.conversion_time
        and sessions.started_at
            >= conversions.conversion_time
            - to_days(cast({{ var('computation_window_days') }} as integer))

),

untouched as (

    select
        order_id,
        conversion_time,
        global_user_id,
        revenue,
        cast(null as varchar) as session_id,
        cast(null as timestamptz) as touch_time,
        'Direct' as channel,
        '(direct)' as source,
        '(none)' as medium,
        cast(null as varchar) as utm_source,
        cast(null as varchar) as utm_medium,
        cast(null as varchar) as utm_campaign
    from conversions
    where order_id not in (select order_id from touches)

),

all_touches as (

    select * from touches
    union all
    select * from untouched

),

final as (

    select
        *,
        row_number() over conversion_path as touch_number,
        count(*) over (partition by order_id) as touch_count,
        epoch(conversion_time - coalesce(touch_time, conversion_time)) / 86400.0 as age_days
    from all_touches
    window conversion_path as (
        partition by order_id order by touch_time nulls last, session_id
    )

)

select * from final
