{{
    config(
        materialized='incremental',
        unique_key='anonymous_id',
        incremental_strategy='delete+insert',
        tags=['events_unified_view'],
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

events as (

    select * from {{ ref('unique_events') }}
    where event_type in ('page', 'screen', 'track')
        and anonymous_id is not null
    {% if is_incremental() %}
        and anonymous_id in (
            select anonymous_id from {{ ref('unique_events') }}
            where _batch_id > (select coalesce(max(_batch_id), -1) from {{ this }})
        )
    {% endif %}

),

ordered as (

    select
        *,
        lag(event_time) over device_timeline as previous_event_time,
        lag(tracker_session_id) over device_timeline as previous_tracker_session_id
    from events
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
        sum(is_visit_start) over (
            partition by anonymous_id order by event_time, event_id rows unbounded preceding
        ) as visit_number
    from visit_starts

),

capped as (

    select
        *,
        floor(
            epoch(event_time - min(event_time) over (partition by anonymous_id, visit_number))
            / ({{ var('session_max_hours') }} * 3600)
        ) as cap_part
    from visits

),

numbered as (

    select
        *,
        dense_rank() over (partition by anonymous_id order by visit_number, cap_part)
            as session_number
    from capped

),

final as (

    select
        'ss_' || md5(
            anonymous_id || ':' || first_value(event_id) over (
                partition by anonymous_id, session_number order by event_time, event_id
            )
        )[:24] as session_id,
        session_number,
        event_id,
        anonymous_id,
        global_user_id,
        event_time,
        event_type,
        event_name,
        url,
        path,
        referrer,
        page_title,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        gclid,
        fbclid,
        msclkid,
        ttclid,
        tracker_session_id,
        order_id,
        revenue,
        {{ is_conversion('event_name') }} as is_conversion,
        cast({{ env_var('CDPFLOW_BATCH_ID', '0') }} as bigint) as _batch_id
    from numbered

)

select * from final
