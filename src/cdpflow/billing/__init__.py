"""The monthly cost report: what running the deployment cost, by DAG, against the month before."""
