"""A deadline on silence, with one timer per quiet spell instead of one per event.

`asyncio.timeout` around every wait armed and cancelled a timer for each event: around
every websocket receive it was about a tenth of the server's CPU at 5,000 open chats,
and around every Redis reply about 5 % at 2,000 msgs/s (docs/performance.md). Here an
event only notes the time; the timer, when it fires before the deadline, re-arms itself
for it. Both the websocket frame loop (chat/ws_common.py) and the Redis listener
(chat/bus/redis.py) use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class QuietDeadline:
    """Cancels the task that made it once it has waited `seconds` with nothing heard.

    `waiting()`: the wait for the next event starts now. `heard()`: busy with one, which
    is not silence (a long handler does not count). At the deadline, `on_quiet`, if given,
    is called and grants one more period (the Redis listener sends PING then); quiet
    through that one too, and the task is cancelled while it waits, as `asyncio.timeout`
    would do (`expired` tells the caller it was this).
    """

    def __init__(self, seconds: float, on_quiet: Callable[[], None] | None = None) -> None:
        self.seconds = seconds
        self.expired = False
        self._on_quiet = on_quiet
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._since = self._loop.time()
        self._waiting = False
        # Whether `on_quiet` had its turn in this quiet spell: a flag, not a comparison of
        # times, since uvloop's clock ticks in milliseconds and an answer to the Redis
        # listener's PING often comes back within the same one.
        self._graced = False
        self._handle = self._loop.call_at(self._since + seconds, self._check)

    def waiting(self) -> None:
        """The wait for the next event starts now."""
        self._since = self._loop.time()
        self._waiting = True
        self._graced = False

    def heard(self) -> None:
        self._waiting = False

    def cancel(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        if not self._waiting:  # handling an event: the silence starts when it is done
            self._handle = self._loop.call_at(now + self.seconds, self._check)
        elif now < self._since + self.seconds:
            self._handle = self._loop.call_at(self._since + self.seconds, self._check)
        elif self._on_quiet is not None and not self._graced:
            self._graced = True
            self._on_quiet()
            self._handle = self._loop.call_at(now + self.seconds, self._check)
        elif self._task is not None:
            self.expired = True
            self._task.cancel()
