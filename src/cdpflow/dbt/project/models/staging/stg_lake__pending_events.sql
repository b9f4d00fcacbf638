{{ config(tags=['events_unified_view']) }}
-- Events as core_events holds them (the tracker's session id renamed to say whose it is): every
-- column, in core_events' order (cdpflow.events.schema, which the job's source view follows).
with

source as (

    select * from {{ source('lake', 'pending_events') }}

),

renamed as (

    select * rename (session_id as tracker_session_id)
    from source

)

select * from renamed
