{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        tags=['events_unified_view'],
    )
}}
-- One row per event_id: the earliest received copy, with the person it belongs to.
-- An incremental run reads only the core_events files added since the last run; a copy already
-- here competes with the new ones, and rows whose person merged away are resolved again.
with

pending as (

    select {{ event_columns() }} from {{ ref('stg_lake__pending_events') }}

),

identities as (

    select * from {{ ref('stg_lake__identities') }}
    where identifier_type in ('user_id', 'email', 'anonymous_id')

),

merges as (

    select absorbed_id from {{ ref('stg_lake__identity_merges') }}

),

{% if is_incremental() %}

stored as (

    select {{ event_columns() }} from {{ this }}
    where event_id in (select event_id from pending)
        or global_user_id is null
        or global_user_id in (select absorbed_id from merges)

),

candidates as (

    select * from pending
    union all
    select * from stored

),

{% else %}

candidates as (

    select * from pending

),

{% endif %}

deduplicated as (

    select *
    from candidates
    qualify row_number() over (
        partition by event_id order by received_at, event_time, source, anonymous_id
    ) = 1

),

-- the person of an event: through its user_id, else its email, else its device; identifiers
-- held out of merges (a device shared by many logins) are used only when nothing else is
resolved as (

    select
        deduplicated.*,
        coalesce(
            by_user.global_user_id,
            by_email.global_user_id,
            by_device.global_user_id,
            held_by_user.global_user_id,
            held_by_email.global_user_id,
            held_by_device.global_user_id
        ) as global_user_id
    from deduplicated
    left join identities as by_user
        on by_user.identifier_type = 'user_id'
        and by_user.identifier_value = deduplicated.user_id
        and not by_user.held_out
    left join identities as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier_value = deduplicated.email
        and not by_email.held_out
    left join identities as by_device
        on by_device.identifier_type = 'anonymous_id'
        and by_device.identifier_value = deduplicated.anonymous_id
        and not by_device.held_out
    left join identities as held_by_user
        on held_by_user.identifier_type = 'user_id'
        and held_by_user.identifier_value = deduplicated.user_id
        and held_by_user.held_out
    left join identities as held_by_email
        on held_by_email.identifier_type = 'email'
        and held_by_email.identifier_value = deduplicated.email
        and held_by_email.held_out
    left join identities as held_by_device
        on held_by_device.identifier_type = 'anonymous_id'
        and held_by_device.identifier_value = deduplicated.anonymous_id
        and held_by_device.held_out

),

final as (

    select
        {{ event_columns() }},
        global_user_id,
        cast({{ env_var('CDPFLOW_BATCH_ID', '0') }} as bigint) as _batch_id
    from resolved

)

select * from final
