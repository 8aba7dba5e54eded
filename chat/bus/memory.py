"""In-process backend, used when REDIS_URL is unset (development, tests, single process).

It delivers only to subscribers of this backend instance, i.e. of this process's Bus.
Publishing still goes through the Bus's buffered flush path, so code written against it
sees the same asynchrony as with Redis: ``publish`` returns before anything is delivered.
"""

import asyncio
from collections.abc import Sequence

from chat.bus.base import BusBackend


class MemoryBackend(BusBackend):
    def __init__(self) -> None:
        super().__init__()
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._connected = False

    @property
    def healthy(self) -> bool:
        return self._connected

    async def connect(self) -> None:
        self._queue = asyncio.Queue()
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False
        self._channels.clear()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        if not self._connected:
            raise ConnectionError("memory bus backend is not connected")
        for channel, data in items:
            if channel in self._channels:
                self._queue.put_nowait((channel, data))

    async def next_published(self) -> tuple[str, bytes]:
        return await self._queue.get()
