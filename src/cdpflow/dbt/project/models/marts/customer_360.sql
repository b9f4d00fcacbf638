{{ config(tags=['events_unified_view']) }}
-- One row per person (global_user_id): when we saw them, how they are known, what they bought
-- and which channel brought them first and last.
with

identities as (

    select global_user_id, identifier_type, identifier_value, first_seen_at, last_seen_at
    from {{ ref('stg_lake__identities') }}

),

sessions as (

    select * from {{ ref('sessions') }} where global_user_id is not null

),

conversions as (

    select * from {{ ref('conversions') }} where global_user_id is not null

),

people as (

    select
        global_user_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        count(*) as identifier_count,
        count(*) filter (where identifier_type = 'anonymous_id') as devices
    from identities
    group by global_user_id

),

-- the names a person is known by (devices are only counted: people have many); identities
-- hold one row per identifier, so the value lists need no distinct, which would cost a
-- separate aggregation each
known_as as (

    select
        global_user_id,
        list(identifier_value order by identifier_value)
            filter (where identifier_type = 'email') as emails,
        list(identifier_value order by identifier_value)
            filter (where identifier_type = 'user_id') as user_ids,
        list(identifier_value order by identifier_value)
            filter (where identifier_type = 'phone') as phones,
        list(distinct identifier_type order by identifier_type) as identifier_types
    from identities
    where identifier_type <> 'anonymous_id'
    group by global_user_id

),

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

order_stats as (

    select
        global_user_id,
        count(*) as orders,
        sum(revenue) as revenue,
        min(conversion_time) as first_order_at,
        max(conversion_time) as last_order_at
    from conversions
    group by global_user_id

),

reference_time as (

    select {% if var('as_of') %}cast('{{ var("as_of") }}' as timestamptz){% else %}now(){% endif %}
        as as_of

),

final as (

    select
        people.global_user_id,
        least(people.first_seen_at, session_stats.first_session_at) as first_seen_at,
        greatest(people.last_seen_at, session_stats.last_session_end) as last_seen_at,
        known_as.emails,
        known_as.user_ids,
        known_as.phones,
        people.devices,
        people.identifier_count,
        list_sort(
            coalesce(known_as.identifier_types, [])
            || case when people.devices > 0 then ['anonymous_id'] else [] end
        ) as identifier_types,
        coalesce(session_stats.sessions, 0) as sessions,
        coalesce(order_stats.orders, 0) as orders,
        coalesce(order_stats.revenue, 0) as revenue,
        order_stats.first_order_at,
        order_stats.last_order_at,
        session_stats.first_touch_channel,
        session_stats.last_touch_channel,
        date_diff('day', cast(order_stats.last_order_at as date),
                  cast(reference_time.as_of as date)) as days_since_last_order
    from people
    cross join reference_time
    left join known_as on known_as.global_user_id = people.global_user_id
    left join session_stats on session_stats.global_user_id = people.global_user_id
    left join order_stats on order_stats.global_user_id = people.global_user_id

)

select * from final
