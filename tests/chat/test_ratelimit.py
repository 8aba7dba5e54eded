"""Unit tests for chat.ratelimit: the token bucket that throttles each connection."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.ratelimit import TokenBucket

HYPOTHESIS = settings(max_examples=200, deadline=None, database=None)
EPSILON = 1e-6


def allowed_at(bucket: TokenBucket, now: float, attempts: int) -> int:
    return sum(bucket.allow(now) for _ in range(attempts))


def test_a_new_bucket_allows_the_whole_burst_at_once_then_refuses() -> None:
    bucket = TokenBucket(rate=2.0, burst=5, now=100.0)
    assert [bucket.allow(100.0) for _ in range(7)] == [True] * 5 + [False] * 2


def test_a_refused_frame_does_not_use_up_a_token() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.allow(0.0)
    for _ in range(50):
        assert not bucket.allow(0.0)
    assert bucket.allow(1.0)  # exactly one second's worth, untouched by the refusals


def test_tokens_come_back_at_the_rate() -> None:
    bucket = TokenBucket(rate=4.0, burst=4, now=0.0)
    assert allowed_at(bucket, 0.0, 10) == 4
    assert allowed_at(bucket, 0.25, 10) == 1  # 0.25 s × 4/s
    assert allowed_at(bucket, 0.75, 10) == 2
    assert allowed_at(bucket, 1.75, 10) == 4


def test_a_partial_token_is_not_enough() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    assert bucket.allow(0.0)
    assert not bucket.allow(0.5)
    assert not bucket.allow(0.99)
    assert bucket.allow(1.0)


def test_a_long_silence_never_refills_beyond_the_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert allowed_at(bucket, 0.0, 3) == 3
    assert allowed_at(bucket, 1e6, 100) == 3
    assert bucket.tokens == 0.0


def test_an_unused_bucket_stays_at_capacity() -> None:
    bucket = TokenBucket(rate=5.0, burst=2, now=0.0)
    bucket.allow(0.0, cost=0.0)
    bucket.allow(60.0, cost=0.0)
    assert bucket.tokens == bucket.capacity == 2.0


def test_a_steady_sender_at_the_rate_is_never_refused() -> None:
    bucket = TokenBucket(rate=2.0, burst=1, now=0.0)
    assert all(bucket.allow(i * 0.5) for i in range(1, 200))


def test_a_sender_twice_as_fast_as_the_rate_gets_about_half_through() -> None:
    bucket = TokenBucket(rate=10.0, burst=5, now=0.0)
    sent = 2000
    passed = sum(bucket.allow(i / 20) for i in range(sent))  # 20/s for 100 s
    assert passed <= 5 + 10 * (sent - 1) / 20 + EPSILON
    assert passed >= 10 * (sent - 1) / 20 - 1


def test_a_costlier_event_takes_more_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=5, now=0.0)
    assert bucket.allow(0.0, cost=3.0)
    assert not bucket.allow(0.0, cost=3.0)
    assert bucket.allow(0.0, cost=2.0)
    assert not bucket.allow(0.0)


def test_an_event_costing_more_than_the_burst_is_never_allowed() -> None:
    bucket = TokenBucket(rate=100.0, burst=2, now=0.0)
    assert not bucket.allow(0.0, cost=3.0)
    assert not bucket.allow(1e9, cost=3.0)


def test_a_rate_of_zero_never_refills() -> None:
    bucket = TokenBucket(rate=0.0, burst=2, now=0.0)
    assert allowed_at(bucket, 0.0, 5) == 2
    assert allowed_at(bucket, 1e9, 5) == 0


def test_a_burst_of_zero_allows_nothing() -> None:
    bucket = TokenBucket(rate=100.0, burst=0, now=0.0)
    assert allowed_at(bucket, 0.0, 3) == 0
    assert allowed_at(bucket, 10.0, 3) == 0


def test_a_clock_that_steps_back_mints_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.allow(10.0)
    assert not bucket.allow(5.0)  # time went backwards: no refill
    assert bucket.tokens >= 0.0


def test_a_clock_that_steps_back_and_returns_does_not_refill_twice() -> None:
    # Only one token's worth of time (10 → 11) passes for the bucket, so at most one
    # more frame may pass, however the clock wobbles in between.
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.allow(10.0)
    bucket.allow(5.0)
    assert allowed_at(bucket, 10.0, 5) + allowed_at(bucket, 11.0, 5) <= 1


@pytest.mark.parametrize(("rate", "burst"), [(1.0, 1), (5.0, 10), (0.5, 3), (50.0, 50)])
def test_the_first_second_allows_at_most_burst_plus_rate(rate: float, burst: int) -> None:
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    passed = sum(bucket.allow(i / 1000) for i in range(1001))
    assert passed <= burst + rate + EPSILON
    assert passed >= burst + math.floor(rate) - 1


# --- properties ------------------------------------------------------------------------

RATES = st.floats(min_value=0.01, max_value=100.0, allow_nan=False)
BURSTS = st.integers(min_value=1, max_value=20)
GAPS = st.lists(
    st.one_of(
        st.just(0.0),
        st.floats(min_value=0.0, max_value=0.05, allow_nan=False),
        st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
    ),
    min_size=1,
    max_size=120,
)


def _run(rate: float, burst: int, start: float, gaps: list[float]) -> list[tuple[float, bool]]:
    bucket = TokenBucket(rate=rate, burst=burst, now=start)
    now, events = start, []
    for gap in gaps:
        now += gap
        events.append((now, bucket.allow(now)))
        assert -EPSILON <= bucket.tokens <= bucket.capacity + EPSILON
    return events


@HYPOTHESIS
@given(
    rate=RATES,
    burst=BURSTS,
    start=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    gaps=GAPS,
)
def test_no_window_ever_allows_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: int, start: float, gaps: list[float]
) -> None:
    events = _run(rate, burst, start, gaps)
    times = [t for t, ok in events if ok]
    for i, t0 in enumerate(times):
        for j in range(i, len(times)):
            t1 = times[j]
            count = j - i + 1  # allowed events with t0 <= t <= t1
            assert count <= burst + rate * (t1 - t0) + EPSILON, (t0, t1, count)


@HYPOTHESIS
@given(rate=RATES, burst=BURSTS, gaps=GAPS)
def test_after_a_full_refill_the_whole_burst_passes_again(
    rate: float, burst: int, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    now = 0.0
    for gap in gaps:
        now += gap
        bucket.allow(now)
    later = now + burst / rate + 1.0
    assert allowed_at(bucket, later, burst + 5) == burst


@HYPOTHESIS
@given(rate=RATES, burst=BURSTS, gaps=GAPS)
def test_a_frame_is_refused_only_when_less_than_one_token_is_left(
    rate: float, burst: int, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    now = 0.0
    for gap in gaps:
        now += gap
        expected = min(bucket.capacity, bucket.tokens + (now - bucket.updated) * rate)
        assert bucket.allow(now) == (expected >= 1.0)
