{{
    config(
        materialized='incremental',
        unique_key='anonymous_id',
        incremental_strategy='delete+insert',
        tags=['events_unified_view'],
        post_hook="{{ record_build() }}",
    )
}}
-- One row per session: a device's visit, with where it came from and what it was worth.
with

session_events as (

    select * from {{ ref('int_events_sessionized') }}
    {% if is_incremental() %}
    where {{ written_since_last_build() }}
    {% endif %}

),

orders as (

    -- one conversion per order_id within a session (a purchase tracked twice counts once)
    select session_id, order_id, max(revenue) as revenue
    from session_events
    where is_conversion
    group by session_id, coalesce(order_id, event_id), order_id

),

order_totals as (

    select session_id, count(*) as conversions, sum(coalesce(revenue, 0)) as revenue
    from orders
    group by session_id

),

aggregated as (

    select
        session_id,
        anonymous_id,
        first(global_user_id order by global_user_id is null, event_time, event_id)
            as global_user_id,
        min(event_time) as started_at,
        max(event_time) as ended_at,
        count(*) as event_count,
        count(*) filter (where event_type in ('page', 'screen')) as page_views,
        first(coalesce(path, url) order by event_time, event_id)
            filter (where event_type in ('page', 'screen')) as landing_page,
        last(coalesce(path, url) order by event_time, event_id)
            filter (where event_type in ('page', 'screen')) as exit_page,
        first(url order by event_time, event_id) as landing_url,
        first(referrer order by event_time, event_id) as referrer,
        first(utm_source order by event_time, event_id) as utm_source,
        first(utm_medium order by event_time, event_id) as utm_medium,
        first(utm_campaign order by event_time, event_id) as utm_campaign,
        first(utm_term order by event_time, event_id) as utm_term,
        first(utm_content order by event_time, event_id) as utm_content,
        first(gclid order by event_time, event_id) as gclid,
        first(fbclid order by event_time, event_id) as fbclid,
        first(msclkid order by event_time, event_id) as msclkid,
        first(ttclid order by event_time, event_id) as ttclid,
        first(tracker_session_id order by event_time, event_id) as tracker_session_id
    from session_events
    group by session_id, anonymous_id

),

sourced as (

    select
        *,
        {{ referrer_host('referrer', 'landing_url') }} as referrer_host
    from aggregated

),

attributed as (

    select
        *,
        {{ traffic_source('utm_source', 'gclid', 'msclkid', 'ttclid', 'fbclid', 'referrer_host') }}
            as source,
        {{ traffic_medium('utm_source', 'utm_medium', 'gclid', 'msclkid', 'ttclid', 'fbclid',
                          'referrer_host') }} as medium
    from sourced

),

final as (

    select
        attributed.session_id,
        global_user_id,
        anonymous_id,
        started_at,
        ended_at,
        epoch(ended_at - started_at) as duration_seconds,
        event_count,
        page_views,
        landing_page,
        exit_page,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        gclid,
        fbclid,
        source,
        medium,
        {{ default_channel_group('source', 'medium', 'utm_campaign') }} as channel,
        (epoch(ended_at - started_at) > {{ var('engaged_seconds') }}
            or coalesce(order_totals.conversions, 0) > 0
            or page_views >= 2) as is_engaged,
        coalesce(order_totals.conversions, 0) > 0 as converted,
        coalesce(order_totals.conversions, 0) as conversions,
        coalesce(order_totals.revenue, 0) as revenue,
        tracker_session_id,
        cast(started_at as date) as session_date
    from attributed
    left join order_totals on order_totals.session_id = attributed.session_id

)

{{ stamp_batch('final', 'session_id') }}
