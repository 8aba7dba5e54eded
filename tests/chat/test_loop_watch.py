"""The event-loop watchdog names the code that held the loop, and stays quiet otherwise."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from chat.loop_watch import LoopWatch


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
    warnings = [r.getMessage() for r in caplog.records if r.name == "chat.loop_watch"]
    assert warnings and "event loop held for" in warnings[0]
    assert "_hold_the_loop" in warnings[0]
    held_ms = float(warnings[0].split("held for ")[1].split(" ms")[0])
    assert held_ms >= 400


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
