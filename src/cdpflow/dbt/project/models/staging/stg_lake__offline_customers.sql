{{ config(tags=['events_unified_view']) }}
-- One row per customer record (source table x customer_id) of the ELT tables that declare
-- `role: customers`, typed; the newest load of a record wins.
with

source as (

    select * from {{ source('lake', 'offline_customers') }}

),

final as (

    select
        nullif(trim(customer_id), '') as customer_id,
        customer_id_type,
        {{ normalized_email('email') }} as email,
        {{ normalized_phone('phone') }} as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        upper(nullif(trim(country), '')) as country,
        {{ flag('accepts_marketing') }} as accepts_marketing,
        source_table,
        _loaded_at
    from source
    where nullif(trim(customer_id), '') is not null
    qualify row_number() over (
        partition by source_table, nullif(trim(customer_id), '') order by _loaded_at desc
    ) = 1

)

select * from final
