{{ config(tags=['retention']) }}
-- One row per person x day they did anything, and whether they purchased that day.
with

events as (

    -- event_date is the UTC day of event_time, stored: casting 10 M timestamps with time zone
    -- took half of this model's time
    select global_user_id, event_date as day
    from {{ ref('unique_events') }}
    where global_user_id is not null

),

purchases as (

    select distinct global_user_id, conversion_date as day
    from {{ ref('conversions') }}
    where global_user_id is not null

),

active as (

    select distinct global_user_id, day from events

),

final as (

    select
        active.global_user_id,
        active.day,
        purchases.day is not null as purchased
    from active
    left join purchases
        on purchases.global_user_id = active.global_user_id
        and purchases.day = active.day

)

select * from final
