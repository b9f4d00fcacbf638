"""retention: activity and purchase retention cohorts by day, ISO week and month.

PostHog's first-occurrence retention over global_user_id.
"""

from cdpflow.jobs.analytics import job_run

JOB = "retention"
run = job_run(JOB)
