{{
    config(
        materialized='incremental',
        unique_key='global_user_id',
        incremental_strategy='delete+insert',
        tags=['events_unified_view'],
        post_hook="{{ record_source_read('identities') }}",
    )
}}
-- One row per person of the identities table: how they are known and when they were seen.
-- customer_360 reads it by person. An incremental run recomputes only the people whose
-- identities changed: each person's identities are fingerprinted (one narrow pass), and a
-- fingerprint unlike the stored one marks the person changed. A person who is no longer in
-- identities (merged away) keeps a row with is_gone, so customer_360 knows to drop them. When
-- no identity run committed since the last build, nothing is read.
with

identities as (

    select global_user_id, identifier_type, identifier_value, first_seen_at, last_seen_at
    from {{ ref('stg_lake__identities') }}

),

fingerprints as (

    select
        global_user_id,
        bit_xor(hash(identifier_type, identifier_value, first_seen_at, last_seen_at))
            as identities_fingerprint
    from identities
    group by global_user_id

),

{% if is_incremental() and source_unchanged_since_last_build('identities') %}

changed as (

    select global_user_id, identities_fingerprint from fingerprints where false

),

changed_identities as (

    select * from identities where false

),

{% elif is_incremental() %}

-- people whose identities differ from the stored ones, and stored people no longer there
changed as materialized (

    select
        coalesce(fingerprints.global_user_id, stored.global_user_id) as global_user_id,
        fingerprints.identities_fingerprint
    from fingerprints
    full outer join (
        select global_user_id, identities_fingerprint from {{ this }} where not is_gone
    ) as stored
        on stored.global_user_id = fingerprints.global_user_id
    where stored.identities_fingerprint is distinct from fingerprints.identities_fingerprint

),

changed_identities as (

    select identities.*
    from identities
    semi join changed on changed.global_user_id = identities.global_user_id

),

{% else %}

changed as (

    select * from fingerprints

),

changed_identities as (

    select * from identities

),

{% endif %}

people as (

    select
        global_user_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        count(*) as identifier_count,
        count(*) filter (where identifier_type = 'anonymous_id') as devices
    from changed_identities
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
    from changed_identities
    where identifier_type <> 'anonymous_id'
    group by global_user_id

),

final as (

    select
        changed.global_user_id,
        people.first_seen_at,
        people.last_seen_at,
        known_as.emails,
        known_as.user_ids,
        known_as.phones,
        coalesce(people.devices, 0) as devices,
        coalesce(people.identifier_count, 0) as identifier_count,
        list_sort(
            coalesce(known_as.identifier_types, [])
            || case when people.devices > 0 then ['anonymous_id'] else [] end
        ) as identifier_types,
        changed.identities_fingerprint,
        changed.identities_fingerprint is null as is_gone,
        cast({{ run_batch_id() }} as bigint) as _batch_id
    from changed
    left join people on people.global_user_id = changed.global_user_id
    left join known_as on known_as.global_user_id = changed.global_user_id

)

select * from final
