{{ config(tags=['events_unified_view']) }}
-- Events as core_events holds them (the tracker's session id renamed to say whose it is).
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
        event_date

    from source

)

select * from renamed
