{{ config(tags=['events_unified_view']) }}
-- One row per order: the first conversion event of each order_id (an event without an order_id
-- is its own order), with the session it happened in (none for a server-side call without a
-- device), and the orders of the ELT tables declaring `role: orders`. An order both online and
-- offline is one row: the online event keeps its time and session, the offline row supplies
-- the status, the refunds and the authoritative total. Cancelled orders are not conversions;
-- revenue is net of refunds; an offline order without a time counts when it was loaded. The
-- conversion event names come from CDPFLOW_CONVERSION_EVENTS.
with

conversion_events as (

    select * from {{ ref('unique_events') }}
    where {{ is_conversion('event_name') }}

),

sessionized as (

    select event_id, session_id from {{ ref('int_events_sessionized') }}
    where is_conversion

),

offline_orders as (

    select * from {{ ref('int_offline_orders_identified') }}

),

first_per_order as (

    select *
    from conversion_events
    qualify row_number() over (
        partition by coalesce(order_id, event_id) order by event_time, event_id
    ) = 1

),

online as (

    select
        first_per_order.*,
        sessionized.session_id
    from first_per_order
    left join sessionized on sessionized.event_id = first_per_order.event_id

),

joined as (

    select
        coalesce(online.order_id, online.event_id, offline_orders.order_id) as order_id,
        online.event_id,
        online.event_name,
        coalesce(online.event_time, offline_orders.ordered_at, offline_orders._loaded_at)
            as conversion_time,
        coalesce(online.global_user_id, offline_orders.global_user_id) as global_user_id,
        online.anonymous_id,
        online.session_id,
        case
            when offline_orders.order_id is not null
                then offline_orders.total - offline_orders.refunded
            else coalesce(online.revenue, 0)
        end as revenue,
        coalesce(offline_orders.refunded, 0) as refunded,
        coalesce(offline_orders.currency, online.currency) as currency,
        offline_orders.status as order_status,
        case
            when offline_orders.order_id is null then 'online'
            when online.event_id is null then 'offline'
            else 'both'
        end as order_source,
        coalesce(offline_orders.is_cancelled, false) as is_cancelled
    from online
    full outer join offline_orders on offline_orders.order_id = online.order_id

),

final as (

    select
        order_id,
        event_id,
        event_name,
        conversion_time,
        global_user_id,
        anonymous_id,
        session_id,
        revenue,
        refunded,
        order_status,
        order_source,
        currency,
        cast(conversion_time as date) as conversion_date
    from joined
    where not is_cancelled

)

select * from final
