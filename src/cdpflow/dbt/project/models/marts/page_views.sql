{{
    config(
        materialized='incremental',
        incremental_strategy='device_tail',
        tail_column='viewed_at',
        tags=['events_unified_view'],
        post_hook="{{ record_build() }}",
    )
}}
-- One row per page or screen view, with the time until the next view in the same session (null
-- for the session's last view: there is nothing to measure it against).
with

session_events as (

    {{ rows_to_build_from(ref('int_events_sessionized')) }}

),

views as (

    select * from session_events where event_type in ('page', 'screen')

),

final as (

    select
        event_id,
        session_id,
        global_user_id,
        anonymous_id,
        event_time as viewed_at,
        event_type,
        event_name,
        url,
        path,
        page_title,
        referrer,
        epoch(next_view_at - event_time) as time_on_page_seconds,
        next_view_at is null as is_exit,
        cast(event_time as date) as event_date
    from views

)

{{ stamp_batch('final', 'event_id') }}
