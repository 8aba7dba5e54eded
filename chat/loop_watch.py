"""A watchdog for the event loop: while one callback holds it, every socket waits.

A daemon thread posts a no-op to the loop every `PERIOD_SECONDS`. If it has not run
`threshold` seconds later, the thread samples the loop thread's stack *while the loop
is still held* (the code holding it, not whatever runs after) and keeps sampling until
the no-op runs; then one warning says how long the loop was held and what it was
running. asyncio's debug mode times every callback, at a cost production can't pay;
this costs one self-pipe write per period.

Python's cyclic garbage collector also holds the loop, from inside whatever allocation
triggers it, and its own work shows in no Python stack; so collections that take as
long are logged too (`gc.callbacks`), with their generation (2: a full collection,
which walks every object the process tracks; chat/gc_tuning.py makes them rare), the
thread that set them off (any thread that allocates may, and the loop waits on the GIL
meanwhile), and the CPU that thread spent in them: a collection whose CPU is far below
its length was a thread the machine did not run, not a heap too big to walk.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
import traceback
from collections import Counter

log = logging.getLogger("chat.loop_watch")

PERIOD_SECONDS = 0.1
MAX_STACKS_SHOWN = 3


class LoopWatch:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.stalls = 0  # how many times the loop was held longer than `threshold`
        self.slow_collections = 0  # garbage collections that took as long
        self._gc_started = 0.0
        self._gc_started_cpu = 0.0
        self._stop = threading.Event()

    def start(self) -> None:
        """Watch the running loop (call from inside it)."""
        gc.callbacks.append(self._on_gc)
        loop = asyncio.get_running_loop()
        thread = threading.Thread(
            target=self._watch, args=(loop, threading.get_ident()), name="loop-watch", daemon=True
        )
        thread.start()

    def stop(self) -> None:
        # Not joined: the thread notices within a period and ends by itself, so a
        # shutdown never waits on it.
        self._stop.set()
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            self._gc_started_cpu = time.thread_time()
            return
        took = time.perf_counter() - self._gc_started
        if took >= self.threshold:
            cpu = time.thread_time() - self._gc_started_cpu
            self.slow_collections += 1
            log.warning(
                "garbage collection (generation %d) held the loop for %.0f ms "
                "(%.0f ms of CPU, in thread %s), %d collected",
                info["generation"],
                took * 1000,
                cpu * 1000,
                threading.current_thread().name,
                info["collected"],
            )

    def _watch(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        while not self._stop.wait(PERIOD_SECONDS):
            ran = threading.Event()
            posted = time.monotonic()
            try:
                loop.call_soon_threadsafe(ran.set)
            except RuntimeError:  # the loop is closed
                return
            if ran.wait(self.threshold):
                continue
            stacks: Counter[str] = Counter()
            while not ran.is_set():
                frame = sys._current_frames().get(loop_thread)
                if frame is None:
                    return
                stacks["".join(traceback.format_stack(frame))] += 1
                del frame
                if self._stop.is_set() or ran.wait(self.threshold):
                    break
            self.stalls += 1
            held_ms = (time.monotonic() - posted) * 1000
            shown = "\n".join(
                f"-- seen in {count} of {sum(stacks.values())} samples:\n{stack}"
                for stack, count in stacks.most_common(MAX_STACKS_SHOWN)
            )
            log.warning("event loop held for %.0f ms; it was running:\n%s", held_ms, shown)
