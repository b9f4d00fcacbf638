{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        tags=['attribution'],
        post_hook=[
            "delete from {{ this }} where order_id not in "
            ~ "(select order_id from {{ ref('conversions') }})",
            "{{ record_build() }}",
        ],
    )
}}
-- depends_on: {{ ref('int_events_sessionized') }}
-- One row per conversion x attribution model x touchpoint that gets credit, with its share of the
-- conversion (credit) and of its revenue. Per conversion and model, credits sum to 1.
-- An incremental run credits again only the conversions that are new or changed and those of
-- the people (or devices) whose sessions were recomputed since the last build; conversions
-- that no longer exist are deleted (post_hook).
with

{% if is_incremental() %}

-- every person an event of a recomputed device belongs to, before or after, and the device
-- itself (a session without a person is keyed by its device)
changed_people as (

    select distinct unnest([
        coalesce(global_user_id, 'device:' || anonymous_id), 'device:' || anonymous_id
    ]) as person_key
    from {{ ref('int_events_sessionized') }}
    where {{ written_since_last_build() }}

),

affected as materialized (

    select order_id from {{ ref('conversions') }}
    where coalesce(global_user_id, 'device:' || anonymous_id)
        in (select person_key from changed_people)
    union
    select order_id from (
        select order_id, conversion_time, global_user_id, revenue
        from {{ ref('conversions') }}
        except
        select distinct order_id, conversion_time, global_user_id, revenue from {{ this }}
    )

),

touchpoints as (

    select * from {{ ref('int_conversions_touchpoints') }}
    where order_id in (select order_id from affected)

),

{% else %}

touchpoints as (

    select * from {{ ref('int_conversions_touchpoints') }}

),

{% endif %}

last_non_direct as (

    -- the last touch that was not Direct; the last touch when every touch was Direct
    select
        order_id,
        coalesce(
            max(touch_number) filter (where channel <> 'Direct'), max(touch_number)
        ) as touch_number
    from touchpoints
    group by order_id

),

decay as (

    select
        order_id,
        touch_number,
        pow(2.0, -age_days / 7.0)
            / sum(pow(2.0, -age_days / 7.0)) over (partition by order_id) as weight
    from touchpoints

),

credits as (

    select order_id, touch_number, 'first_touch' as model, 1.0 as credit
    from touchpoints where touch_number = 1

    union all

    select order_id, touch_number, 'last_touch', 1.0
    from touchpoints where touch_number = touch_count

    union all

    select order_id, touch_number, 'last_non_direct', 1.0
    from last_non_direct

    union all

    select order_id, touch_number, 'linear', 1.0 / touch_count
    from touchpoints

    union all

    -- 40% to the first touch, 40% to the last, 20% shared by those between; one touch takes
    -- everything, two share half each
    select
        order_id,
        touch_number,
        'position_based',
        case
            when touch_count = 1 then 1.0
            when touch_count = 2 then 0.5
            when touch_number = 1 or touch_number = touch_count then 0.4
            else 0.2 / (touch_count - 2)
        end
    from touchpoints

    union all

    select order_id, touch_number, 'time_decay', weight
    from decay

),

final as (

    select
        touchpoints.order_id,
        touchpoints.conversion_time,
        touchpoints.global_user_id,
        credits.model,
        touchpoints.touch_number,
        touchpoints.touch_count,
        touchpoints.session_id,
        touchpoints.touch_time,
        touchpoints.channel,
        touchpoints.source,
        touchpoints.medium,
        touchpoints.utm_source,
        touchpoints.utm_medium,
        touchpoints.utm_campaign,
        credits.credit,
        credits.credit * touchpoints.revenue as revenue_credit,
        touchpoints.revenue
    from credits
    inner join touchpoints
        on touchpoints.order_id = credits.order_id
        and touchpoints.touch_number = credits.touch_number

)

select * from final
