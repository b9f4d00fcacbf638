{{ config(tags=['events_unified_view']) }}
-- One row per order_id of the ELT tables that declare `role: orders`, typed. The newest load
-- wins when two tables hold one order. A refunded order whose source gives no refunded amount
-- was refunded whole; cancelled means a cancellation time or status cancelled / voided.
with

source as (

    select * from {{ source('lake', 'offline_orders') }}

),

typed as (

    select
        nullif(trim(order_id), '') as order_id,
        nullif(trim(customer_id), '') as customer_id,
        customer_id_type,
        {{ normalized_email('email') }} as email,
        {{ normalized_phone('phone') }} as phone,
        coalesce(try_cast(total as double), 0) as total,
        try_cast(refunded as double) as refunded,
        upper(nullif(trim(currency), '')) as currency,
        lower(nullif(trim(status), '')) as status,
        try_cast(ordered_at as timestamptz) as ordered_at,
        try_cast(cancelled_at as timestamptz) as cancelled_at,
        source_table,
        _loaded_at
    from source

),

final as (

    select
        order_id,
        customer_id,
        customer_id_type,
        email,
        phone,
        total,
        coalesce(refunded, case when status = 'refunded' then total end, 0) as refunded,
        currency,
        status,
        ordered_at,
        cancelled_at,
        cancelled_at is not null or coalesce(status in ('cancelled', 'canceled', 'voided'), false)
            as is_cancelled,
        source_table,
        _loaded_at
    from typed
    where order_id is not null
    qualify row_number() over (
        partition by order_id order by _loaded_at desc, source_table
    ) = 1

)

select * from final
