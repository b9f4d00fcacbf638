{{
    config(
        materialized='incremental',
        incremental_strategy='device_tail',
        tail_column='started_at',
        tags=['events_unified_view'],
        post_hook="{{ record_build() }}",
    )
}}
-- One row per session: a device's visit, with where it came from and what it was worth.
{#- the landing's fields a session reports as they are -#}
{%- set landing_fields = ['referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term',
                          'utm_content', 'gclid', 'fbclid'] %}
with

-- read where it is used, not copied first: DuckDB materializes a CTE used more than once, and
-- copying every wide row costs more than scanning the table three times
session_events as not materialized (

    {{ rows_to_build_from(ref('int_events_sessionized')) }}

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

-- the landing (the first page or screen view, else the first event) carries the source:
-- page, referrer, UTM tags and click ids all come from that one event
landings as (

    select
        session_id,
        url as landing_url,
        coalesce(path, url) as landing_page,
        {{ landing_fields | join(', ') }},
        msclkid,
        ttclid,
        -- Google's newer click markers, read from the landing URL as core_events reads gclid
        {{ url_parameter('url', 'gbraid') }} as gbraid,
        {{ url_parameter('url', 'wbraid') }} as wbraid,
        {{ url_parameter('url', 'gad_source') }} as gad_source,
        {{ url_parameter('url', 'dclid') }} as dclid,
        tracker_session_id
    from session_events
    where is_landing

),

totals as (

    select
        session_id,
        anonymous_id,
        -- the person of the session's first event that has one
        arg_min(global_user_id, event_time) as global_user_id,
        min(event_time) as started_at,
        max(event_time) as ended_at,
        count(*) as event_count,
        count(*) filter (where event_type in ('page', 'screen')) as page_views,
        -- keyed by time alone: a struct key (time, event_id) makes this several times slower
        arg_max(coalesce(path, url), event_time)
            filter (where event_type in ('page', 'screen')) as exit_page
    from session_events
    group by session_id, anonymous_id

),

aggregated as (

    select totals.*, landings.* exclude (session_id)
    from totals
    inner join landings on landings.session_id = totals.session_id

),

hosts as (

    select
        *,
        {{ url_host('referrer') }} as referring_host,
        {{ url_host('landing_url') }} as landing_host
    from aggregated

),

sourced as (

    select
        * exclude (referring_host, landing_host),
        {{ external_host('referring_host', 'landing_host') }} as referrer_host
    from hosts

),

-- materialized: it is read twice (by source_categories and by attributed), and inlined twice
-- it would extract both hosts of every session twice
with_source as materialized (

    select *, {{ traffic_source() }} as source
    from sourced

),

-- the category (search, social, video, shopping) of each source in Google's table, looked up
-- once per distinct source, not per session
source_categories as (

    {{ source_categories('with_source', ref('ga4_source_categories')) }}

),

attributed as (

    select *, {{ traffic_medium('source_category') }} as medium
    from with_source
    left join source_categories using (source)

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
        {{ landing_fields | join(', ') }},
        source,
        medium,
        {{ default_channel_group('source', 'medium', 'utm_campaign', 'source_category') }}
            as channel,
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
