"""Young collections while many sockets close (chat/gc_tuning.py, `socket_closed`)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys

import pytest

from chat import gc_tuning
from tests.chat.test_serve import _python_env
from tests.support import LiveDesk


def test_every_hundredth_closed_socket_runs_a_young_collection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    monkeypatch.setattr(gc_tuning, "_serving", True)
    monkeypatch.setattr(gc_tuning, "_closed_since_collection", 0)
    for _ in range(gc_tuning.SOCKETS_PER_YOUNG_COLLECTION * 2 + 50):
        gc_tuning.socket_closed()
    assert collected == [0, 0]


def test_a_process_not_serving_keeps_cpythons_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    monkeypatch.setattr(gc_tuning, "_serving", False)
    for _ in range(gc_tuning.SOCKETS_PER_YOUNG_COLLECTION * 3):
        gc_tuning.socket_closed()
    assert collected == []


# Many "sockets" of long-lived objects, then each one freed while its ending makes
# short-lived reference cycles (as a database session does): how many objects the
# young generation holds once they have all gone, with and without `socket_closed`.
_ENDINGS = """
import gc, sys
from chat.gc_tuning import tune_for_serving, socket_closed
tune_for_serving()

class Session:
    def __init__(self):
        self.me = self

sockets = [[{"frame": [i, j]} for j in range(40)] for i in range(3000)]
gc.collect()
for i in range(3000):
    sockets[i] = None
    for _ in range(40):
        Session()
    if sys.argv[1] == "counted":
        socket_closed()
print(len(gc.get_objects(generation=0)))
"""


def test_sockets_closing_by_the_thousand_leave_no_pile_for_one_long_collection() -> None:
    """In a process of its own (it freezes the heap). Without the count, CPython runs no
    young collection while the old objects go (its count is allocations minus
    deallocations), so all 120,000 cycles wait for one walk; with it, at most a hundred
    sockets' worth do."""

    def young_objects_after(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _ENDINGS, mode],
            env=_python_env({}),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return int(done.stdout)

    assert young_objects_after("uncounted") > 100_000
    assert young_objects_after("counted") < 100 * 40 + gc_tuning.YOUNG_THRESHOLD


async def test_a_closed_widget_or_console_socket_is_counted(
    desk: LiveDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[None] = []
    monkeypatch.setattr(gc_tuning, "socket_closed", lambda: closed.append(None))
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    assert closed == []
    await ana.close()
    await bea.close()
    async with asyncio.timeout(5):
        while len(closed) < 2:  # the server sees each close a loop pass or two later
            await asyncio.sleep(0.01)
    assert len(closed) == 2
