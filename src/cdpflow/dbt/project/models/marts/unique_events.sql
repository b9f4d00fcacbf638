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

pending as not materialized (

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

-- found over two narrow columns, then fetched by row id: filtering the wide rows would read
-- every column of the whole table
stored_rows as materialized (

    select rowid as row_id from {{ this }}
    where event_id in (select event_id from pending)
        or global_user_id is null
        or global_user_id in (select absorbed_id from merges)

),

stored as materialized (

    select {{ event_columns() }} from {{ this }}
    where rowid in (select row_id from stored_rows)

),

candidates as not materialized (

    select * from pending
    union all
    select * from stored

),

{% else %}

candidates as not materialized (

    select * from pending

),

{% endif %}

-- only ids with several copies go through the window: sorting all rows, wide as they are,
-- would spill the whole table to disk
copied as (

    select event_id from candidates group by event_id having count(*) > 1

),

deduplicated as not materialized (

    select * from candidates
    where event_id not in (select event_id from copied)
    union all
    select * from candidates
    where event_id in (select event_id from copied)
    qualify row_number() over (
        partition by event_id order by received_at, event_time, source, anonymous_id
    ) = 1

),

-- the person of each combination of identifiers (far fewer than events): through the user_id,
-- else the email, else the device; identifiers held out of merges (a device shared by many
-- logins) are used only when nothing else is
identifier_sets as (

    select distinct user_id, email, anonymous_id from deduplicated

),

-- the identities of those identifiers, found in one pass over the identities table
wanted as (

    select distinct identifier_type, identifier_value from (
        select 'user_id' as identifier_type, user_id as identifier_value from identifier_sets
        union all
        select 'email', email from identifier_sets
        union all
        select 'anonymous_id', anonymous_id from identifier_sets
    )
    where identifier_value is not null

),

relevant_identities as materialized (

    select identities.*
    from identities
    semi join wanted
        on wanted.identifier_type = identities.identifier_type
        and wanted.identifier_value = identities.identifier_value

),

people as (

    select
        identifier_sets.*,
        coalesce(
            case when not by_user.held_out then by_user.global_user_id end,
            case when not by_email.held_out then by_email.global_user_id end,
            case when not by_device.held_out then by_device.global_user_id end,
            by_user.global_user_id,
            by_email.global_user_id,
            by_device.global_user_id
        ) as global_user_id
    from identifier_sets
    left join relevant_identities as by_user
        on by_user.identifier_type = 'user_id'
        and by_user.identifier_value = identifier_sets.user_id
    left join relevant_identities as by_email
        on by_email.identifier_type = 'email'
        and by_email.identifier_value = identifier_sets.email
    left join relevant_identities as by_device
        on by_device.identifier_type = 'anonymous_id'
        and by_device.identifier_value = identifier_sets.anonymous_id

),

resolved as (

    select deduplicated.*, people.global_user_id
    from deduplicated
    left join people
        on people.anonymous_id is not distinct from deduplicated.anonymous_id
        and people.user_id is not distinct from deduplicated.user_id
        and people.email is not distinct from deduplicated.email

),

final as (

    select {{ event_columns() }}, global_user_id from resolved

)

{{ stamp_batch('final', 'event_id') }}
