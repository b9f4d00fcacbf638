{{ config(tags=['events_unified_view']) }}
-- Events as core_events holds them, with the device key sessions are built on.
with

source as (

    select * from {{ source('lake', 'pending_events') }}

),

renamed as (

    select
        event_id,
        event_type,
        event_name,
        event_time,
        received_at,
        sent_at,
        anonymous_id,
        user_id,
        previous_id,
        group_id,
        session_id as tracker_session_id,
        url,
        path,
        referrer,
        page_title,
        utm_source,
        utm_medium,
        utm_campaign,
        utm_term,
        utm_content,
        gclid,
        fbclid,
        msclkid,
        ttclid,
        email,
        phone,
        map_id,
        map_provider,
        order_id,
        revenue,
        currency,
        properties,
        traits,
        user_agent,
        ip,
        source,
        payload_format,
        event_date,
        -- a device is the anonymous id; server-side calls without one are their user's device
        coalesce(anonymous_id, 'user:' || user_id) as device_id

    from source

)

select * from renamed
