"""The event-loop watchdog names the code that held the loop, and stays quiet otherwise."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

from chat.loop_watch import PERIOD_SECONDS, LoopWatch


def _hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a synchronous call in a handler does to every socket


async def test_a_held_loop_is_logged_with_the_stack_that_held_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = LoopWatch(threshold=0.05)
    with caplog.at_level(logging.WARNING, logger="chat.loop_watch"):
        watch.start()
        try:
            await asyncio.sleep(0.2)
            _hold_the_loop(0.5)
            await asyncio.sleep(0.3)
        finally:
            watch.stop()
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
    watch = LoopWatch(threshold=0.5)
    with caplog.at_level(logging.WARNING, logger="chat.loop_watch"):
        watch.start()
        try:
            for _ in range(100):  # busy, but in short turns: other callbacks run between
                _hold_the_loop(0.005)
                await asyncio.sleep(0)
        finally:
            watch.stop()
    assert watch.stalls == 0
    assert not [r for r in caplog.records if r.name == "chat.loop_watch"]


async def test_a_slow_garbage_collection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    watch = LoopWatch(threshold=0.0)  # every collection is "slow": the report is the test
    with caplog.at_level(logging.WARNING, logger="chat.loop_watch"):
        watch.start()
        try:
            gc.collect()
        finally:
            watch.stop()
    assert watch.slow_collections >= 1
    [message, *_] = [
        r.getMessage() for r in caplog.records if "garbage collection" in r.getMessage()
    ]
    assert "generation 2" in message and "collected" in message
