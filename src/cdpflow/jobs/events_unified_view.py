"""events_unified_view: unique_events, sessions, page_views, conversions and customer_360.

Folds the core_events files added since the last run into unique_events (each event once, with
its global_user_id), re-sessionizes the devices those events touch, and publishes the marts to
the lake. The models and their tests are dbt (`cdpflow/dbt/project`); see cdpflow.jobs.analytics.
"""

from cdpflow.jobs.analytics import job_run

JOB = "events_unified_view"
run = job_run(JOB)
