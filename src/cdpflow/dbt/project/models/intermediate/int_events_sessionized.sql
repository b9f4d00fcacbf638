{{
    config(
        materialized='incremental',
        incremental_strategy='device_tail',
        tail_column='event_time',
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
-- An incremental run recomputes each device that has new (or re-resolved) events from the start
-- of the visit its earliest such event falls in (so a late event lands in the right session
-- however late it arrives); the visits before it cannot change and are kept as stored.
with

{%- set event_fields = [
    'event_id', 'anonymous_id', 'global_user_id', 'event_time', 'event_type', 'event_name', 'url',
    'path', 'referrer', 'page_title', 'utm_source', 'utm_medium', 'utm_campaign', 'utm_term',
    'utm_content', 'gclid', 'fbclid', 'msclkid', 'ttclid', 'tracker_session_id', 'order_id',
    'revenue'] %}
{% if is_incremental() %}

-- activity events written since the last build: new ones, and stored ones whose person changed
changed as materialized (

    select {{ event_fields | join(', ') }}
    from {{ ref('unique_events') }}
    where {{ written_since_last_build() }}
        and event_type in ('page', 'screen', 'track')
        and anonymous_id is not null

),

touched as (

    select anonymous_id, min(event_time) as earliest_change
    from changed
    group by anonymous_id

),

-- the stored rows of those devices, narrow
stored as materialized (

    select rowid as row_id, event_id, anonymous_id, event_time, visit_started_at, session_number
    from {{ this }}
    where anonymous_id in (select anonymous_id from touched)

),

-- where each device's recomputation starts: the start of the visit of its last stored event
-- before the change (the visits before it cannot change)
tail_starts as materialized (

    select
        touched.anonymous_id,
        coalesce(max(stored.visit_started_at), touched.earliest_change) as tail_start
    from touched
    left join stored
        on stored.anonymous_id = touched.anonymous_id
        and stored.event_time < touched.earliest_change
    group by touched.anonymous_id, touched.earliest_change

),

-- and how many sessions the device had before it, to number the recomputed ones after them
tails as materialized (

    select
        tail_starts.anonymous_id,
        tail_starts.tail_start,
        coalesce(max(stored.session_number), 0) as sessions_before
    from tail_starts
    left join stored
        on stored.anonymous_id = tail_starts.anonymous_id
        and stored.event_time < tail_starts.tail_start
    group by tail_starts.anonymous_id, tail_starts.tail_start

),

-- the stored events of the tails that did not change: their rows here hold every field the
-- sessions need, so the 10 M-row unique_events is not searched for them
kept_rows as materialized (

    select stored.row_id
    from stored
    semi join tails
        on tails.anonymous_id = stored.anonymous_id
        and stored.event_time >= tails.tail_start
    where stored.event_id not in (select event_id from changed)

),

events as materialized (

    select * from changed
    union all
    select {{ event_fields | join(', ') }}
    from {{ this }}
    where rowid in (select row_id from kept_rows)

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

    {% if is_incremental() %}
    select
        events.event_id,
        events.anonymous_id,
        events.event_time,
        events.event_type,
        events.tracker_session_id,
        tails.sessions_before
    from events
    inner join tails on tails.anonymous_id = events.anonymous_id
    {% else %}
    select event_id, anonymous_id, event_time, event_type, tracker_session_id,
        0 as sessions_before
    from events
    {% endif %}

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
        sessions_before + dense_rank() over (
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
        visit_started_at,
        first_value(event_id) over session_timeline as first_event_id,
        event_type in ('page', 'screen') as is_view,
        -- the session's view before this event, and the next one after it: a view with none
        -- before it is the session's first; an event with no view before or after it is in a
        -- session without views (a lag of times is cheaper than carrying the first view's id
        -- over the whole session; bench/README.md, analytics)
        lag(case when event_type in ('page', 'screen') then event_time end ignore nulls)
            over session_timeline as previous_view_at,
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
        visit_started_at,
        'ss_' || md5(anonymous_id || ':' || first_event_id)[:24] as session_id,
        event_id = first_event_id as is_session_start,
        -- the landing, whose page and tags are the session's source: its first page or screen
        -- view (so a view wins a tie with a purchase at the same time), else its first event
        case
            when is_view then previous_view_at is null
            else event_id = first_event_id and next_view_at is null
        end as is_landing,
        next_view_at
    from first_events

),

final as (

    select
        sessionized.session_id,
        sessionized.session_number,
        sessionized.visit_started_at,
        sessionized.is_session_start,
        sessionized.is_landing,
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
