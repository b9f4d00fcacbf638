{{ config(tags=['events_unified_view']) }}
-- One row per order: the first conversion event of each order_id (an event without an order_id
-- is its own order), with the session it happened in (none for a server-side call without a
-- device). The conversion event names come from CDPFLOW_CONVERSION_EVENTS.
with

conversion_events as (

    select * from {{ ref('unique_events') }}
    where {{ is_conversion('event_name') }}

),

sessionized as (

    select event_id, session_id from {{ ref('int_events_sessionized') }}
    where is_conversion

),

first_per_order as (

    select *
    from conversion_events
    qualify row_number() over (
        partition by coalesce(order_id, event_id) order by event_time, event_id
    ) = 1

),

final as (

    select
        coalesce(first_per_order.order_id, first_per_order.event_id) as order_id,
        first_per_order.event_id,
        first_per_order.event_name,
        first_per_order.event_time as conversion_time,
        first_per_order.global_user_id,
        first_per_order.anonymous_id,
        sessionized.session_id,
        coalesce(first_per_order.revenue, 0) as revenue,
        first_per_order.currency,
        cast(first_per_order.event_time as date) as conversion_date
    from first_per_order
    left join sessionized on sessionized.event_id = first_per_order.event_id

)

select * from final
