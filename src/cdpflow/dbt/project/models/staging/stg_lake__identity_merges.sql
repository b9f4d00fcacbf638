{{ config(tags=['events_unified_view']) }}
-- Ids that no longer exist because their person merged into another.
select
    absorbed_id,
    surviving_id,
    merged_at
from {{ source('lake', 'identity_merges') }}
