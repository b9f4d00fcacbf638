"""Packages, so that a unit test can bear its module's name (unit/jobs/test_billing.py for
jobs/billing.py) beside an integration or e2e test of the same file name."""
