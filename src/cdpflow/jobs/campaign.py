"""campaign: campaign_performance, per day x source x medium x campaign.

Sessions, people, engaged sessions, purchases and revenue, and the revenue each attribution model
credits to the campaign.
"""

from cdpflow.jobs.analytics import job_run

JOB = "campaign"
run = job_run(JOB)
