"""How a bench process runs its event loop: as `serve` does, so it never skews a figure.

A generator holds as many sockets as the server it drives. On CPython's collector
defaults its own full collections pause its reads for 50–100 ms (seen in
`bench.routing`: the generator's, not the server's, made the p99), and that pause is
counted as the server's latency. So every bench process takes the serving process's
collector settings (chat/gc_tuning.py) and, where installed, uvloop, as `serve` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.metrics import rss_kb
from chat.gc_tuning import tune_for_serving

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` with the serving process's collector settings and loop."""
    tune_for_serving()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


@dataclass
class Held:
    """What the process held more at the end of a pause of its collector (MiB)."""

    mb: float = 0.0


@contextlib.contextmanager
def collector_paused() -> Iterator[Held]:
    """No garbage collection in this process while a measurement runs: a generator's
    own collection (35–60 ms for a young one in `bench.routing`, 150 ms for an older
    one) holds every read behind it and is counted as the server's latency. Bounded
    runs only: cyclic garbage waits until the end, and `Held.mb` says how much more
    memory the process held by then."""
    gc.collect()
    gc.disable()
    held, before = Held(), rss_kb(os.getpid())
    try:
        yield held
    finally:
        held.mb = (rss_kb(os.getpid()) - before) / 1024
        gc.enable()
