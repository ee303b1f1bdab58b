"""The low-speed rule's arithmetic, on a made-up clock: when it trips, what resets the retry
count, and the worst case at the defaults (computed, not waited for)."""

from pathlib import Path

import pytest

from hal0d.config.model import GlobalConfig
from hal0d.store.errors import TooSlowError
from hal0d.store.pace import Pace, SpeedRule, attempt_ok
from hal0d.store.settings import StoreSettings, backoff_cap, worst_case_seconds

NOWHERE = Path("/nonexistent")
RULE = SpeedRule(speed_limit=1024, speed_time=2.0, stall_timeout=60.0)


def run(pace: Pace, arrivals: list[tuple[float, int]], until: float) -> float | None:
    """Feed (time, bytes) arrivals and check as the receiver does (after each arrival and at
    each wake-up); the time the rule tripped, or None."""
    now = 0.0
    pending = sorted(arrivals)
    while now <= until:
        due = pace.next_check(now)
        if pending and pending[0][0] <= due:
            now, count = pending.pop(0)
            pace.add(count, now)
        else:
            now = due
        try:
            pace.check(now)
        except TooSlowError:
            return now
    return None


def test_a_trickle_trips_after_one_window() -> None:
    pace = Pace(RULE, "https://x/m", now=0.0)
    tripped = run(pace, [(float(t), 1) for t in range(100)], until=100)
    assert tripped is not None
    assert RULE.speed_time <= tripped <= RULE.speed_time * 1.125


def test_a_burst_then_silence_trips_once_the_burst_leaves_the_window() -> None:
    pace = Pace(RULE, "https://x/m", now=0.0)
    tripped = run(pace, [(0.01, 64 << 10)], until=100)
    assert tripped is not None
    assert RULE.speed_time < tripped <= 2 * RULE.speed_time * 1.125


def test_a_steady_stream_at_the_limit_never_trips() -> None:
    pace = Pace(RULE, "https://x/m", now=0.0)
    arrivals = [(t / 10, 128) for t in range(1, 1000)]  # 1.25 KiB/s
    assert run(pace, arrivals, until=99) is None


def test_silence_is_a_stall_even_with_the_rule_off() -> None:
    rule = SpeedRule(speed_limit=0, speed_time=2.0, stall_timeout=5.0)
    pace = Pace(rule, "https://x/m", now=0.0)
    with pytest.raises(TooSlowError, match="no data for 5 s"):
        pace.check(pace.next_check(0.0))


def test_the_message_names_url_rate_and_limit() -> None:
    pace = Pace(RULE, "https://x/m", now=0.0)
    pace.add(2, 1.0)
    with pytest.raises(TooSlowError) as caught:
        pace.check(2.0)
    assert str(caught.value) == (
        "https://x/m: too slow: 1 B/s over the last 2 s, below the speed limit of"
        " 1.0 KiB/s averaged over 2 s"
    )


@pytest.mark.parametrize(
    ("gained", "seconds", "ok"),
    [
        (2048, 2.0, True),  # exactly the limit on average
        (2047, 2.0, False),  # gained bytes, still a failure
        (64 << 10, 2.3, True),  # a burst, then a stall: counts as a success
        (0, 0.01, False),  # a 503
    ],
)
def test_what_resets_the_failure_count(gained: int, seconds: float, ok: bool) -> None:
    assert attempt_ok(RULE, gained, seconds) is ok


def test_with_the_rule_off_any_progress_resets() -> None:
    off = SpeedRule(speed_limit=0, speed_time=30.0, stall_timeout=60.0)
    assert attempt_ok(off, 1, 100.0)
    assert not attempt_ok(off, 0, 1.0)


def test_backoff_caps_double_up_to_the_max() -> None:
    settings = StoreSettings(models_dir=NOWHERE, state_dir=NOWHERE, backoff_max=10.0)
    assert [backoff_cap(n, settings) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_worst_case_at_the_defaults() -> None:
    """docs/store.md states this figure: keep them in step."""
    defaults = GlobalConfig()
    settings = StoreSettings(models_dir=NOWHERE, state_dir=NOWHERE)
    assert (defaults.speed_limit, defaults.speed_time, defaults.retries) == (1024, 30.0, 5)
    per_attempt = 30 + 30 * 1.125  # connect_timeout, then at most one window + slack
    waits = 1 + 2 + 4 + 8 + 16  # back-off caps after failures 1..5
    assert worst_case_seconds(settings) == 6 * per_attempt + waits == 413.5
