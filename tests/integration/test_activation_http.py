"""The shared retry layer waits what the channel asks and gives up naming the request only."""

from __future__ import annotations

import pytest
from fakes.webhook import webhook_receiver

from cdpflow.activation.http import ChannelHttp, ChannelUnavailable
from cdpflow.activation.webhook import signature


def test_retry_after_is_honoured_and_exhausted_retries_fail_without_the_query():
    waits: list[float] = []
    with (
        webhook_receiver("k") as receiver,
        ChannelHttp("crm-hook", "hook_key", "", {}, attempts=3, sleep=waits.append) as http,
    ):
        receiver.faults, receiver.retry_after = [429, 503], "7"
        body = b'{"batch_id": "b1", "action": "add", "people": []}'
        headers = {"X-Cdpflow-Signature": signature("k", body)}
        assert http.request("POST", receiver.url, content=body, headers=headers).status_code == 200
        assert waits[0] >= 7 and waits[1] < 7  # the 429's Retry-After, then plain backoff

        receiver.faults = [500, 500, 500]
        with pytest.raises(ChannelUnavailable) as err:
            http.request(
                "POST", receiver.url + "?access_token=tok123", content=body, headers=headers
            )
        assert "after 3 attempts (HTTP 500" in str(err.value)
        assert "tok123" not in str(err.value)
