{{
    config(
        materialized='incremental',
        unique_key='anonymous_id',
        incremental_strategy='delete+insert',
        tags=['events_unified_view'],
        post_hook="{{ record_build() }}",
    )
}}
-- One row per activity event (page, screen, track) of a device (anonymous_id) with the session
-- it belongs to. Server-side calls without a device have no session.
-- A session ends after more than session_timeout_minutes without events (exactly the timeout does
-- not split), and runs for at most session_max_hours: a visit longer than that is cut every
-- session_max_hours from its first event. With honour_tracker_session_id, a change of the
-- tracker's own session id also starts a session.
-- An incremental run recomputes every device that has new (or re-resolved) events, whole, so a
-- late event lands in the right session however late it arrives.
with

{% if is_incremental() %}

-- the rows of the devices with new events, found over narrow columns and fetched by row id:
-- filtering the wide rows would read every column of the whole table
touched_rows as materialized (

    select rowid as row_id from {{ ref('unique_events') }}
    where event_type in ('page', 'screen', 'track')
        and anonymous_id in (
            select anonymous_id from {{ ref('unique_events') }}
            where {{ written_since_last_build() }}
        )

),

events as materialized (

    select * from {{ ref('unique_events') }}
    where rowid in (select row_id from touched_rows)

),

{% else %}

events as not materialized (

    select * from {{ ref('unique_events') }}
    where event_type in ('page', 'screen', 'track')
        and anonymous_id is not null

),

{% endif %}

-- the windows run over four narrow columns; the wide ones join back once at the end (sorting
-- wide rows spills the whole table to disk)
timeline as (

    select event_id, anonymous_id, event_time, event_type, tracker_session_id from events

),

ordered as (

    select
        *,
        lag(event_time) over device_timeline as previous_event_time,
        lag(tracker_session_id) over device_timeline as previous_tracker_session_id
    from timeline
    window device_timeline as (partition by anonymous_id order by event_time, event_id)

),

visit_starts as (

    select
        *,
        case
            when previous_event_time is null then 1
            when event_time - previous_event_time
                > to_minutes(cast({{ var('session_timeout_minutes') }} as bigint)) then 1
            {% if var('honour_tracker_session_id') %}
            when tracker_session_id is distinct from previous_tracker_session_id then 1
            {% endif %}
            else 0
        end as is_visit_start
    from ordered

),

visits as (

    select
        *,
        sum(is_visit_start) over so_far as visit_number,
        max(case when is_visit_start = 1 then event_time end) over so_far as visit_started_at
    from visit_starts
    window so_far as (
        partition by anonymous_id order by event_time, event_id rows unbounded preceding
    )

),

numbered as (

    select
        *,
        dense_rank() over (
            partition by anonymous_id
            order by
                visit_number,
                floor(
                    epoch(event_time - visit_started_at)
                    / ({{ var('session_max_hours') }} * 3600)
                )
        ) as session_number
    from visits

),

first_events as (

    select
        event_id,
        session_number,
        first_value(event_id) over session_timeline as first_event_id,
        -- for page and screen views: when the session's next view came (time on page)
        lead(case when event_type in ('page', 'screen') then event_time end ignore nulls)
            over session_timeline as next_view_at,
        anonymous_id
    from numbered
    window session_timeline as (
        partition by anonymous_id, session_number order by event_time, event_id
    )

),

sessionized as (

    select
        event_id,
        session_number,
        'ss_' || md5(anonymous_id || ':' || first_event_id)[:24] as session_id,
        event_id = first_event_id as is_session_start,
        next_view_at
    from first_events

),

final as (

    select
        sessionized.session_id,
        sessionized.session_number,
        sessionized.is_session_start,
        sessionized.next_view_at,
        events.event_id,
        events.anonymous_id,
        events.global_user_id,
        events.event_time,
        events.event_type,
        events.event_name,
        events.url,
        events.path,
        events.referrer,
        events.page_title,
        events.utm_source,
        events.utm_medium,
        events.utm_campaign,
        events.utm_term,
        events.utm_content,
        events.gclid,
        events.fbclid,
        events.msclkid,
        events.ttclid,
        events.tracker_session_id,
        events.order_id,
        events.revenue,
        {{ is_conversion('events.event_name') }} as is_conversion,
        cast({{ run_batch_id() }} as bigint) as _batch_id
    from events
    inner join sessionized on sessionized.event_id = events.event_id

)

select * from final
