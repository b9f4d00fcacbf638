"""AWS Cost Explorer's GetCostAndUsage, as documented: JSON 1.1 over a SigV4-signed POST.

It refuses what the real service refuses (see AwsJsonService: content type, signature scope,
unknown access key) plus an invalid body, and answers the tagged costs it was given.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fakes.aws_json import Answer, AwsJsonService, error

TARGET = "AWSInsightsIndexService.GetCostAndUsage"
METRICS = {
    "AmortizedCost",
    "BlendedCost",
    "NetAmortizedCost",
    "NetUnblendedCost",
    "NormalizedUsageAmount",
    "UnblendedCost",
    "UsageQuantity",
}


class CostExplorer(AwsJsonService):
    service = "ce"

    def __init__(self, access_key: str, costs: dict[tuple[str, str], str]) -> None:
        super().__init__(access_key, "us-east-1")  # Cost Explorer's only endpoint
        self.costs = costs  # (tag key, tag value) -> USD amount per month
        self.requests: list[dict[str, Any]] = []

    def operation(self, target: str, request: dict[str, Any]) -> Answer:
        if target != TARGET:
            return error("UnknownOperationException", "unknown operation")
        try:
            start = date.fromisoformat(request["TimePeriod"]["Start"])
            end = date.fromisoformat(request["TimePeriod"]["End"])
            granularity = request["Granularity"]
            metrics = request["Metrics"]
        except (KeyError, TypeError, ValueError) as err:
            return error("ValidationException", f"invalid request: {err}")
        if not start < end or granularity not in ("DAILY", "MONTHLY", "HOURLY"):
            return error("ValidationException", "bad TimePeriod or Granularity")
        if not metrics or not set(metrics) <= METRICS:
            return error("ValidationException", f"unknown metrics {metrics}")
        self.requests.append(request)
        tags = (request.get("Filter") or {}).get("Tags") or {}
        amount = "0"
        for value in tags.get("Values", []):
            amount = self.costs.get((tags.get("Key", ""), value), amount)
        total = {
            m: {"Amount": amount if m == "UnblendedCost" else "0", "Unit": "USD"} for m in metrics
        }
        period = {
            "TimePeriod": request["TimePeriod"],
            "Total": total,
            "Groups": [],
            "Estimated": False,
        }
        return 200, {"ResultsByTime": [period], "DimensionValueAttributes": []}
