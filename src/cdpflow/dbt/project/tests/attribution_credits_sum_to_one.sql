-- Per conversion and model, credits sum to 1 and revenue credits to the conversion's revenue.
select order_id, model, sum(credit) as credits, sum(revenue_credit) as revenue_credits,
       any_value(revenue) as revenue
from {{ ref('attribution') }}
group by order_id, model
having abs(sum(credit) - 1) > 1e-9 or abs(sum(revenue_credit) - any_value(revenue)) > 1e-6
