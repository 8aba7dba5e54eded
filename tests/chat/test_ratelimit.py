"""Unit tests for chat.ratelimit: the token bucket that throttles each connection, and
the limiter shared by processes through Redis (with its in-process floor)."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.ratelimit import SharedCounters, SharedLimiter, TokenBucket

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


# --- limits shared by processes (chat.ratelimit.SharedLimiter) ---------------------------


@pytest.fixture
async def redis_prefix(bus_prefix: str) -> AsyncIterator[str]:
    """A Redis to count in (skipped when absent, failed under CI), emptied afterwards."""
    async for prefix in _redis_keys(bus_prefix):
        yield prefix


@pytest.fixture(params=["in-process", "redis"])
async def any_prefix(request: pytest.FixtureRequest, bus_prefix: str) -> AsyncIterator[str | None]:
    """Both backends: None (the memory bus, one process) or a Redis key prefix."""
    if request.param == "in-process":
        yield None
        return
    async for prefix in _redis_keys(bus_prefix):
        yield prefix


async def _redis_keys(bus_prefix: str) -> AsyncIterator[str]:
    from tests.conftest import REDIS_URL, _redis_ok, service_missing

    if not await _redis_ok():
        service_missing(f"Redis not reachable at {REDIS_URL}")
    yield bus_prefix
    counters = SharedCounters.from_url(REDIS_URL, bus_prefix)
    try:
        keys = [k async for k in counters.client.scan_iter(match=f"{bus_prefix}:*")]
        if keys:
            await counters.client.delete(*keys)
    finally:
        await counters.close()


def _process(prefix: str | None, limit: int = 3, window: float = 300.0) -> SharedLimiter:
    """The limiter one process would build: over Redis when given a prefix."""
    from tests.conftest import REDIS_URL

    counters = SharedCounters.from_url(REDIS_URL, prefix) if prefix else None
    return SharedLimiter("login_ip", limit, window, counters)


async def _close(*limiters: SharedLimiter) -> None:
    for limiter in limiters:
        if limiter.shared is not None:
            await limiter.shared.close()


async def test_a_shared_limiter_allows_the_limit_then_refuses_until_forgotten(
    any_prefix: str | None,
) -> None:
    limiter = _process(any_prefix)
    try:
        assert not await limiter.blocked("10.0.0.1")
        assert [await limiter.hit("10.0.0.1") for _ in range(5)] == [True] * 3 + [False] * 2
        assert await limiter.blocked("10.0.0.1")
        assert not await limiter.blocked("10.0.0.2")  # keys are independent
        assert await limiter.hit("10.0.0.2")
        await limiter.forget("10.0.0.1")
        assert not await limiter.blocked("10.0.0.1")
        assert await limiter.hit("10.0.0.1")
    finally:
        await _close(limiter)


async def test_processes_sharing_redis_share_one_allowance(redis_prefix: str) -> None:
    one, two = _process(redis_prefix), _process(redis_prefix)
    try:
        assert await one.hit("ana@example.com")
        assert await two.hit("ana@example.com")
        assert not await one.blocked("ana@example.com")
        assert await one.hit("ana@example.com")  # the third, counted by both
        assert await one.blocked("ana@example.com") and await two.blocked("ana@example.com")
        assert not await two.hit("ana@example.com")  # each process alone would allow it
    finally:
        await _close(one, two)


async def test_the_shared_window_expires_on_its_own(redis_prefix: str) -> None:
    limiter = _process(redis_prefix, window=300.0)
    try:
        await limiter.hit("10.0.0.9")
        assert limiter.shared is not None
        ttl = await limiter.shared.client.pttl(limiter.shared.key("login_ip", "10.0.0.9"))
        assert 0 < ttl <= 300_000  # counted once, forgotten by Redis at the window's end
    finally:
        await _close(limiter)


async def test_an_unreachable_redis_fails_open_to_the_per_process_floor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counters = SharedCounters.from_url("redis://127.0.0.1:1/0", "nowhere")
    limiter = SharedLimiter("new_chats_ip", 3, 3600.0, counters)
    try:
        with caplog.at_level(logging.WARNING, logger="chat.ratelimit"):
            results = [await limiter.hit("10.0.0.3") for _ in range(5)]
        assert results == [True] * 3 + [False] * 2  # open, but this process still stops a flood
        assert await limiter.blocked("10.0.0.3")
        warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(warnings) == 1  # then Redis is left alone for a while, not retried per hit
    finally:
        await counters.close()


@pytest.mark.parametrize(
    ("redis_url", "shared"),
    [(None, False), ("", False), ("memory://", False), ("redis://127.0.0.1:6379/0", True)],
)
async def test_limits_are_shared_only_when_the_desk_runs_on_redis(
    redis_url: str | None, shared: bool
) -> None:
    from chat.ratelimit import EdgeLimits
    from chat.settings import Settings

    limits = EdgeLimits.from_settings(Settings.from_env({}, redis_url=redis_url, secret_key="k"))
    try:
        assert (limits.shared is not None) is shared
        assert (limits.login_per_ip.shared is not None) is shared
    finally:
        await limits.close()
