"""attribution: credit every conversion to the sessions that led to it, under six models.

first_touch, last_touch, last_non_direct, linear, position_based (40/20/40) and time_decay (7-day
half-life) over the sessions of the converting person within COMPUTATION_WINDOW days.
"""

from cdpflow.jobs.analytics import job_run

JOB = "attribution"
run = job_run(JOB)
