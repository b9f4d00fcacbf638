{{ config(tags=['events_unified_view']) }}
-- One row per identifier with its person.
select
    identifier_type,
    identifier_value,
    global_user_id,
    first_seen_at,
    last_seen_at,
    held_out
from {{ source('lake', 'identities') }}
