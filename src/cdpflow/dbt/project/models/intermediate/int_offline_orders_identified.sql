{{ config(tags=['events_unified_view']) }}
-- One row per offline order with the person it belongs to (null when no identifier of it is
-- in identities): by customer id, else email, else phone.
{{ with_person(ref('stg_lake__offline_orders'), ref('stg_lake__identities')) }}
