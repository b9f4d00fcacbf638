-- A conversion without touchpoints is credited to Direct, never lost: six models each.
select conversions.order_id, count(distinct attribution.model) as models
from {{ ref('conversions') }} as conversions
left join {{ ref('attribution') }} as attribution using (order_id)
group by conversions.order_id
having count(distinct attribution.model) <> 6
