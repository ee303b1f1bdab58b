"""PropertyThrottle: what is sent and in which batches (no timing thresholds: the clock is
driven by the event loop and only order and content are asserted)."""

import asyncio
from typing import Any

from hal0d.bus.throttle import PropertyThrottle


async def test_first_change_goes_out_at_once_and_later_ones_are_batched() -> None:
    sent: list[dict[str, Any]] = []
    throttle = PropertyThrottle(sent.append, interval=0.05)
    throttle.seed({"Phase": "", "BytesDone": 0})
    throttle.change({"Phase": "download"})
    assert sent == [{"Phase": "download"}]
    for done in range(1, 100):
        throttle.change({"BytesDone": done})
    throttle.change({"Phase": "done"})
    assert len(sent) == 1  # nothing more until the interval is over
    await asyncio.sleep(0.1)
    assert sent[1:] == [{"BytesDone": 99, "Phase": "done"}]


async def test_unchanged_values_are_not_sent() -> None:
    sent: list[dict[str, Any]] = []
    throttle = PropertyThrottle(sent.append, interval=0.01)
    throttle.seed({"State": "offline"})
    throttle.change({"State": "offline"})
    assert sent == []
    throttle.change({"State": "pulling"})
    throttle.change({"State": "offline"})  # back to the published value within one interval
    await asyncio.sleep(0.05)
    assert sent == [{"State": "pulling"}, {"State": "offline"}]


async def test_together_properties_always_travel_as_a_group() -> None:
    sent: list[dict[str, Any]] = []
    groups = (("Phase", "BytesDone", "BytesTotal"), ("VerifyPhase", "VerifyBytesDone"))
    throttle = PropertyThrottle(sent.append, interval=0.01, together=groups)
    throttle.seed({"Phase": "download", "BytesDone": 0, "BytesTotal": 10, "State": "pulling"})
    throttle.seed({"VerifyPhase": "verify", "VerifyBytesDone": 0})
    throttle.change({"BytesDone": 5})
    assert sent == [{"BytesDone": 5, "Phase": "download", "BytesTotal": 10}]
    await asyncio.sleep(0.02)
    throttle.change({"State": "offline"})
    await asyncio.sleep(0.02)
    assert sent[-1] == {"State": "offline"}
    throttle.change({"VerifyBytesDone": 7})
    await asyncio.sleep(0.02)
    assert sent[-1] == {"VerifyPhase": "verify", "VerifyBytesDone": 7}


async def test_close_drops_what_is_pending() -> None:
    sent: list[dict[str, Any]] = []
    throttle = PropertyThrottle(sent.append, interval=10)
    throttle.change({"A": 1})
    throttle.change({"A": 2})
    throttle.close()
    await asyncio.sleep(0)
    assert sent == [{"A": 1}]
