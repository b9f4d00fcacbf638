{{
    config(
        materialized='incremental',
        unique_key='global_user_id',
        incremental_strategy='delete+insert',
        tags=['events_unified_view'],
        post_hook=[
            "delete from {{ this }} where global_user_id in "
            ~ "(select global_user_id from {{ ref('int_people_identities') }} where is_gone)",
            "{{ record_build() }}",
        ],
    )
}}
-- depends_on: {{ ref('int_events_sessionized') }}
-- One row per person (global_user_id): when we saw them, how they are known, what they bought
-- (online and offline orders, net of refunds), which channel brought them first and last, and
-- their name, country and marketing consent from the offline customer records (the newest
-- record that has each; null when none does).
-- An incremental run recomputes only the people something happened to since the last build:
-- new or changed identities, events (their devices' sessions are rebuilt, so every person an
-- event of those devices belongs to, before or after), orders, contact details; and the people
-- with orders when the day changed, for days_since_last_order. People merged away are deleted (post_hook).
with

reference_time as (

    select {% if var('as_of') %}cast('{{ var("as_of") }}' as timestamptz){% else %}now(){% endif %}
        as as_of

),

order_stats as (

    select
        global_user_id,
        count(*) as orders,
        sum(revenue) as revenue,
        min(conversion_time) as first_order_at,
        max(conversion_time) as last_order_at,
        date_diff('day', cast(max(conversion_time) as date),
                  cast(any_value(reference_time.as_of) as date)) as days_since_last_order
    from {{ ref('conversions') }}
    cross join reference_time
    where global_user_id is not null
    group by global_user_id

),

contacts as (

    select
        global_user_id,
        arg_max(first_name, _loaded_at) filter (where first_name is not null) as first_name,
        arg_max(last_name, _loaded_at) filter (where last_name is not null) as last_name,
        arg_max(country, _loaded_at) filter (where country is not null) as country,
        arg_max(accepts_marketing, _loaded_at) filter (where accepts_marketing is not null)
            as accepts_marketing
    from {{ ref('int_offline_customers_identified') }}
    where global_user_id is not null
    group by global_user_id

),

{% if is_incremental() %}

affected as materialized (

    select global_user_id from {{ ref('int_people_identities') }}
    where {{ written_since_last_build() }} and not is_gone
    union
    -- every event of a device whose events changed: the people its sessions had and have
    select global_user_id from {{ ref('int_events_sessionized') }}
    where {{ written_since_last_build() }} and global_user_id is not null
    union
    -- orders are few: compared whole with what is stored (the day's change included)
    select global_user_id from (
        select global_user_id, orders, revenue, first_order_at, last_order_at,
            days_since_last_order
        from order_stats
        except
        select global_user_id, orders, revenue, first_order_at, last_order_at,
            days_since_last_order
        from {{ this }} where orders > 0
    )
    union
    select global_user_id from {{ this }}
    where orders > 0
        and global_user_id not in (select global_user_id from order_stats)
    union
    -- contact details too: one row per customer record
    select global_user_id from (
        select global_user_id, first_name, last_name, country, accepts_marketing from contacts
        except
        select global_user_id, first_name, last_name, country, accepts_marketing
        from {{ this }}
        where first_name is not null or last_name is not null or country is not null
            or accepts_marketing is not null
    )
    union
    select global_user_id from {{ this }}
    where (first_name is not null or last_name is not null or country is not null
            or accepts_marketing is not null)
        and global_user_id not in (select global_user_id from contacts)

),

people as (

    select people.*
    from {{ ref('int_people_identities') }} as people
    semi join affected on affected.global_user_id = people.global_user_id
    where not people.is_gone

),

sessions as (

    select sessions.*
    from {{ ref('sessions') }} as sessions
    semi join affected on affected.global_user_id = sessions.global_user_id

),

{% else %}

people as (

    select * from {{ ref('int_people_identities') }} where not is_gone

),

sessions as (

    select * from {{ ref('sessions') }} where global_user_id is not null

),

{% endif %}

session_stats as (

    select
        global_user_id,
        count(*) as sessions,
        min(started_at) as first_session_at,
        max(ended_at) as last_session_end,
        arg_min(channel, {{ time_then_id('started_at', 'session_id') }}) as first_touch_channel,
        arg_max(channel, {{ time_then_id('started_at', 'session_id') }}) as last_touch_channel
    from sessions
    group by global_user_id

),

final as (

    select
        people.global_user_id,
        least(people.first_seen_at, session_stats.first_session_at) as first_seen_at,
        greatest(people.last_seen_at, session_stats.last_session_end) as last_seen_at,
        people.emails,
        people.user_ids,
        people.phones,
        people.devices,
        people.identifier_count,
        people.identifier_types,
        coalesce(session_stats.sessions, 0) as sessions,
        coalesce(order_stats.orders, 0) as orders,
        coalesce(order_stats.revenue, 0) as revenue,
        order_stats.first_order_at,
        order_stats.last_order_at,
        session_stats.first_touch_channel,
        session_stats.last_touch_channel,
        order_stats.days_since_last_order,
        contacts.first_name,
        contacts.last_name,
        contacts.country,
        contacts.accepts_marketing
    from people
    left join session_stats on session_stats.global_user_id = people.global_user_id
    left join order_stats on order_stats.global_user_id = people.global_user_id
    left join contacts on contacts.global_user_id = people.global_user_id

)

select * from final
