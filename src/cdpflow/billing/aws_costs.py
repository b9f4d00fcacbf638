"""The month's cost of the deployment's AWS resources, from AWS Cost Explorer, by cost tag."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdpflow.errors import TerminalError, TransientError


def tagged_monthly_cost(
    tag: str,
    start: datetime,
    end: datetime,
    *,
    endpoint_url: str | None = None,
    client: Any = None,
) -> float | None:
    """UnblendedCost in USD of resources tagged `key=value` in [start, end); None when no AWS
    credentials are configured (the report then says so)."""
    try:
        import boto3
        import botocore.exceptions
    except ImportError as err:
        raise TerminalError(
            "CDPFLOW_AWS_COST_TAG is set but boto3 is missing: pip install 'cdpflow[aws]'."
        ) from err
    if client is None:
        session = boto3.session.Session()
        if session.get_credentials() is None:
            return None
        # Cost Explorer has one endpoint, in us-east-1, whatever the deployment's region.
        client = session.client("ce", region_name="us-east-1", endpoint_url=endpoint_url or None)
    key, _, value = tag.partition("=")
    try:
        answer = client.get_cost_and_usage(
            TimePeriod={"Start": f"{start:%Y-%m-%d}", "End": f"{end:%Y-%m-%d}"},
            Granularity="MONTHLY",
            Metrics=["UnblendedCost"],
            Filter={"Tags": {"Key": key, "Values": [value], "MatchOptions": ["EQUALS"]}},
        )
    except botocore.exceptions.ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("ThrottlingException", "LimitExceededException", "ServiceUnavailable"):
            raise TransientError(f"AWS Cost Explorer is throttling ({code}); retry later.") from err
        raise TerminalError(f"AWS Cost Explorer refused the request: {code}: {err}") from err
    except botocore.exceptions.BotoCoreError as err:
        raise TransientError(f"AWS Cost Explorer could not be reached: {err}") from err
    total = 0.0
    for period in answer.get("ResultsByTime", []):
        total += float(period["Total"]["UnblendedCost"]["Amount"])
    return total
