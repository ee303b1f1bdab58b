"""The low-speed rule: when an attempt is too slow to be worth waiting for.

As curl's ``--speed-limit``/``--speed-time``: an attempt that received fewer than
``speed_limit * speed_time`` bytes in the last ``speed_time`` seconds is too slow, and one that
received nothing at all for ``stall_timeout`` seconds has stalled. Both end the attempt with a
`TooSlowError`; the transfer decides whether another attempt is worth it (see `attempt_ok`).
The clock starts when the request has been sent, so a server that trickles its headers is
caught as well as one that trickles the body.

Bytes are recorded in a few coarse samples per window, so the hot path costs one comparison.
The window measured is therefore up to 1/8 longer than ``speed_time``: the rule never trips
early, and at most ``speed_time / 8`` late.
"""

import time
from collections import deque
from dataclasses import dataclass

from hal0d.config.sizes import format_rate
from hal0d.store.errors import TooSlowError

SAMPLES_PER_WINDOW = 8


@dataclass(frozen=True)
class SpeedRule:
    speed_limit: int  # bytes per second; 0 turns the rule off
    speed_time: float  # seconds the rate is averaged over
    stall_timeout: float  # seconds with no byte at all

    def describe_limit(self) -> str:
        return f"{format_rate(self.speed_limit)} averaged over {self.speed_time:g} s"


def attempt_ok(rule: SpeedRule, gained: int, seconds: float) -> bool:
    """Whether an attempt counts as a success for the retry count, however it ended: its
    average rate over its whole length reached the limit (with the rule off: it gained bytes).
    A trickle that gains a few bytes per attempt thus still runs out of retries."""
    if rule.speed_limit <= 0:
        return gained > 0
    return gained > 0 and gained >= rule.speed_limit * seconds


def worst_attempt_seconds(rule: SpeedRule, connect_timeout: float) -> float:
    """The longest an attempt on a link that stays below the limit can last: connecting,
    then one window (the rule can trip no later than that, plus the sampling slack)."""
    watch = rule.stall_timeout
    if rule.speed_limit > 0:
        watch = min(watch, rule.speed_time * (1 + 1 / SAMPLES_PER_WINDOW))
    return connect_timeout + watch


class Pace:
    """Watches the bytes of one attempt against a `SpeedRule`."""

    def __init__(self, rule: SpeedRule, url: str, now: float | None = None) -> None:
        self.rule = rule
        self.url = url
        now = time.monotonic() if now is None else now
        self.started = self.last_byte = now
        self.received = 0
        self._step = rule.speed_time / SAMPLES_PER_WINDOW
        self._samples: deque[tuple[float, int]] = deque([(now, 0)])  # (time, bytes so far)

    def add(self, count: int, now: float) -> None:
        self.received += count
        self.last_byte = now
        self._sample(now)

    def _sample(self, now: float) -> None:
        if now - self._samples[-1][0] >= self._step:
            self._samples.append((now, self.received))

    def next_check(self, now: float) -> float:
        """When to `check` again if no byte arrives before then (always after ``now``)."""
        stall = self.last_byte + self.rule.stall_timeout
        if self.rule.speed_limit <= 0:
            return stall
        first = self.started + self.rule.speed_time
        return min(stall, first if now < first else now + self._step)

    def check(self, now: float) -> None:
        """Raise TooSlowError if the attempt stalled or is below the speed limit."""
        if now - self.last_byte >= self.rule.stall_timeout:
            raise TooSlowError(
                f"{self.url}: no data for {now - self.last_byte:.0f} s"
                f" (stall_timeout {self.rule.stall_timeout:g} s)"
            )
        if self.rule.speed_limit <= 0 or now - self.started < self.rule.speed_time:
            return
        self._sample(now)
        horizon = now - self.rule.speed_time
        while len(self._samples) > 1 and self._samples[1][0] <= horizon:
            self._samples.popleft()
        since, before = self._samples[0]
        seconds = now - since
        if self.received - before < self.rule.speed_limit * seconds:
            rate = (self.received - before) / seconds
            raise TooSlowError(
                f"{self.url}: too slow: {format_rate(rate)} over the last {seconds:.0f} s,"
                f" below the speed limit of {self.rule.describe_limit()}"
            )
