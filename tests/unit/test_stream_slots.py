"""api/streams.py: the alert streams' slots, per token and per process."""
from __future__ import annotations

import pytest

from api.streams import StreamSlots, cap_for_threads
from engine.errors import TooManyRequests


def test_per_token_cap_then_process_cap():
    slots = StreamSlots(total=3, per_token=2, retry_after=7)
    a1, a2 = slots.acquire("a"), slots.acquire("a")
    with pytest.raises(TooManyRequests) as refused:
        slots.acquire("a")
    assert refused.value.status == 429 and refused.value.retry_after == 7 and "this token" in refused.value.detail
    b1 = slots.acquire("b")
    with pytest.raises(TooManyRequests, match="the server is serving 3"):
        slots.acquire("c")
    assert slots.open == 3
    a1.release()
    a1.release()  # idempotent: the generator's end and the response's close both release
    assert slots.open == 2
    c1 = slots.acquire("c")
    for slot in (a2, b1, c1):
        slot.release()
    assert slots.open == 0 and slots._by_key == {}


@pytest.mark.parametrize("threads, cap", [(2, 1), (3, 1), (32, 16), (512, 256)])
def test_streams_get_at_most_half_the_threads(threads, cap):
    assert cap_for_threads(threads) == cap
