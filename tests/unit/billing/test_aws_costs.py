"""The Cost Explorer figure, asked of the contract fake on loopback: the tag filter sent, the
periods summed, and which refusals are retried later and which need a fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
import pytest
from botocore.config import Config
from fakes.aws_json import Answer, error
from fakes.cost_explorer import CostExplorer
from support.ports import free_port

from cdpflow.billing.aws_costs import tagged_monthly_cost
from cdpflow.errors import TerminalError, TransientError

KEY = "AKIDCDPFLOWUNIT"
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


@cache  # building a client loads the service model: 0.1 s
def client(url: str, key: str = KEY) -> Any:
    return boto3.session.Session().client(
        "ce",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=key,
        aws_secret_access_key="not-a-real-secret",
        # one attempt: what billing does with an error is under test, not botocore's retries
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2),
    )


class Explorer(CostExplorer):
    """The fake, answering a period as Cost Explorer does (one result per month, the second
    month's amount `second`), or refusing every request with the error `refuse`."""

    refuse: str | None = None
    second = "0.66"

    def operation(self, target: str, request: dict[str, Any]) -> Answer:
        if self.refuse:
            return error(self.refuse, "refused here")
        status, answer = super().operation(target, request)
        if status == 200:
            (period,) = answer["ResultsByTime"]
            other = {**period, "Total": {"UnblendedCost": {"Amount": self.second, "Unit": "USD"}}}
            answer["ResultsByTime"] = [period, other]
        return status, answer


@pytest.fixture(scope="module")
def server() -> Iterator[Explorer]:
    """One server for the module: stopping one waits out its half-second poll."""
    with Explorer(KEY, {("app", "cdpflow=prod"): "12.34"}) as ce:
        yield ce


@pytest.fixture
def ce(server: Explorer) -> Explorer:
    server.refuse, server.requests = None, []
    return server


def test_the_tag_is_sent_as_an_equals_filter_and_every_period_is_summed(ce: Explorer) -> None:
    total = tagged_monthly_cost("app=cdpflow=prod", START, END, client=client(ce.url))
    assert total == pytest.approx(13.0)
    (request,) = ce.requests
    assert request.pop("Filter") == {
        "Tags": {"Key": "app", "Values": ["cdpflow=prod"], "MatchOptions": ["EQUALS"]}
    }
    period = {"Start": "2026-10-01", "End": "2026-12-01"}
    assert request == {"TimePeriod": period, "Granularity": "MONTHLY", "Metrics": ["UnblendedCost"]}


@pytest.mark.parametrize("kind", ["ThrottlingException", "LimitExceededException"])
def test_throttling_is_transient(ce: Explorer, kind: str) -> None:
    ce.refuse = kind
    with pytest.raises(TransientError, match=f"throttling \\({kind}\\)"):
        tagged_monthly_cost("app=cdpflow", START, END, client=client(ce.url))


def test_a_refused_key_is_terminal_naming_the_code(ce: Explorer) -> None:
    with pytest.raises(TerminalError) as failure:
        tagged_monthly_cost("app=cdpflow", START, END, client=client(ce.url, "AKIDSOMEONEELSE"))
    assert not isinstance(failure.value, TransientError)
    assert str(failure.value).startswith(
        "AWS Cost Explorer refused the request: UnrecognizedClientException:"
    )
    assert "not-a-real-secret" not in str(failure.value)


def test_an_endpoint_that_does_not_answer_is_transient() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientError, match="AWS Cost Explorer could not be reached"):
        tagged_monthly_cost("app=cdpflow", START, END, client=client(url))
