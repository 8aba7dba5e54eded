"""The event-loop watchdog names the code that held the loop, and stays quiet otherwise."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chat.loop_watch import PERIOD_SECONDS, LoopWatch


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a synchronous call in a handler does to every socket


@contextmanager
def _watching(threshold: float, caplog: pytest.LogCaptureFixture) -> Iterator[LoopWatch]:
    """A watchdog on the running loop, its warnings captured; call inside the test's loop."""
    watch = LoopWatch(threshold)
    with caplog.at_level(logging.WARNING, logger="chat.loop_watch"):
        watch.start()
        try:
            yield watch
        finally:
            watch.stop()


async def test_a_held_loop_is_logged_with_the_stack_that_held_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _watching(0.05, caplog) as watch:
        await asyncio.sleep(0.2)
        _hold_the_loop(0.5)
        await asyncio.sleep(0.3)
    assert watch.stalls >= 1
    # On a busy machine other, shorter holds may be reported too: find this one.
    [held] = [
        r.getMessage()
        for r in caplog.records
        if r.name == "chat.loop_watch" and "_hold_the_loop" in r.getMessage()
    ]
    assert held.startswith("event loop held for")
    # Timed from the watchdog's post, which can come up to a period after the hold began.
    held_ms = float(held.split("held for ")[1].split(" ms")[0])
    assert held_ms >= (0.5 - PERIOD_SECONDS) * 1000 - 50


async def test_a_loop_that_keeps_turning_is_never_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _watching(0.5, caplog) as watch:
        for _ in range(100):  # busy, but in short turns: other callbacks run between
            _hold_the_loop(0.005)
            await asyncio.sleep(0)
    assert watch.stalls == 0
    assert not [r for r in caplog.records if r.name == "chat.loop_watch"]


async def test_a_slow_garbage_collection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with _watching(0.0, caplog) as watch:  # every collection is "slow": the report is the test
        gc.collect()
    assert watch.slow_collections >= 1
    [message, *_] = [
        r.getMessage() for r in caplog.records if "garbage collection" in r.getMessage()
    ]
    assert "generation 2" in message and "collected" in message
    # Whose collection, and how much of it was work: a starved thread shows little CPU.
    assert "ms of CPU, in thread MainThread" in message
