from __future__ import annotations

import gzip

import pytest

from cdpflow.collector.errors import CollectorError
from cdpflow.collector.limits import gunzip


def test_gzip_bodies_decode_across_members() -> None:
    data = gzip.compress(b'{"a":') + gzip.compress(b"1}")
    assert gunzip(data, 100) == b'{"a":1}'


def test_a_gzip_bomb_is_refused_without_decoding_it_whole() -> None:
    bomb = gzip.compress(b"a" * 50_000_000)
    with pytest.raises(CollectorError, match="more than 500,000 bytes") as err:
        gunzip(bomb, 500_000)
    assert err.value.status == 413


@pytest.mark.parametrize("data", [b"not gzip", gzip.compress(b"x" * 1000)[:-5]])
def test_broken_gzip_is_a_400(data: bytes) -> None:
    with pytest.raises(CollectorError) as err:
        gunzip(data, 10_000)
    assert err.value.status == 400
