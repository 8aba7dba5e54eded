"""What the Bus and its backends share: the event types, the backend contract, helpers.

The split follows "durable in the database, volatile on the bus": a backend only moves
opaque bytes between processes and may lose some during an outage. Everything that knows
about events (encoding, channel prefixes, handlers, batching) lives in ``Bus``, so a new
transport is a small class and cannot change delivery semantics by accident.
"""

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgpack

Event = dict[str, Any]
"""A bus event: always has a str ``"type"``; values must be msgpack-serialisable."""

Handler = Callable[[str, Event], None]
"""``handler(channel, event)``: synchronous and non-blocking (it only enqueues). All
handlers on a channel get the same dict, so treat it as read-only."""

ReconnectCallback = Callable[[], None]

logger = logging.getLogger("chat.bus")


class BusBackend(ABC):
    """Moves ``(channel, bytes)`` pairs between processes; knows nothing about events.

    Contract the Bus relies on:
    * ``subscribe`` returns once the transport confirmed the subscription, so anything
      published afterwards is delivered. While disconnected it waits for the reconnect.
    * ``publish_many`` sends the whole batch in one round trip and raises on failure
      (the Bus logs and drops: delivery is at-most-once by design).
    * After losing and regaining its connection a backend restores its subscriptions
      first, then calls the callbacks registered with ``add_reconnect_callback``.
    """

    def __init__(self) -> None:
        self._reconnect_callbacks: list[ReconnectCallback] = []

    @property
    def healthy(self) -> bool:
        """False while the transport is known to be disconnected."""
        return True

    def add_reconnect_callback(self, callback: ReconnectCallback) -> None:
        self._reconnect_callbacks.append(callback)

    def _notify_reconnected(self) -> None:
        for callback in list(self._reconnect_callbacks):
            try:
                callback()
            except Exception:
                logger.exception("bus reconnect callback %r failed", callback)

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def disconnect(self) -> None:
        """Stop every task the backend started (cancelled *and* awaited) and close sockets."""

    @abstractmethod
    async def subscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def unsubscribe(self, channel: str) -> None: ...

    @abstractmethod
    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None: ...

    @abstractmethod
    async def next_published(self) -> tuple[str, bytes]:
        """Wait for the next message on any subscribed channel."""


class Subscription:
    """One handler on one channel; ``close()`` it when the socket that cares goes away."""

    def __init__(
        self, channel: str, handler: Handler, on_close: Callable[["Subscription"], None]
    ) -> None:
        self.channel = channel
        self.handler = handler
        self._on_close = on_close
        self._closed = False
        self._ready = False
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def closed(self) -> bool:
        return self._closed

    async def ready(self) -> None:
        """Wait until the upstream subscription is confirmed: from then on, anything any
        process publishes on the channel reaches this handler. During an outage this waits
        for the reconnect, so bound it with ``asyncio.timeout``."""
        while not self._ready:
            if self._closed:
                raise RuntimeError(f"subscription to {self.channel!r} is closed")
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def close(self) -> None:
        """Stop delivery; idempotent. The channel's last close unsubscribes upstream."""
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(RuntimeError(f"subscription to {self.channel!r} closed"))
        self._waiters.clear()

    def _set_ready(self, ready: bool) -> None:
        self._ready = ready
        if ready:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    def _deliver(self, event: Event) -> None:
        if self._closed:
            return  # closed by an earlier handler for the same event
        try:
            self.handler(self.channel, event)
        except Exception:  # one broken handler must not starve the others
            logger.exception("bus handler %r failed on %r", self.handler, self.channel)


def encode_event(event: Event) -> bytes:
    """Serialise at publish time so a bad event fails in the caller, not in a listener.

    msgpack raises TypeError for what it cannot encode (datetimes included: callers send
    ISO strings, see docs/protocol.md).
    """
    if not isinstance(event, dict):
        raise TypeError(f"a bus event must be a dict, not {type(event).__name__}")
    if not isinstance(event.get("type"), str):
        raise ValueError("a bus event needs a str 'type' key")
    data: bytes = msgpack.packb(event, use_bin_type=True)
    return data


def decode_event(data: bytes) -> Event:
    event = msgpack.unpackb(data, raw=False)
    if not isinstance(event, dict):
        raise TypeError(f"bus payload decoded to {type(event).__name__}, not a dict")
    return event


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel tasks and wait until they have really finished.

    encode/broadcaster only cancelled its listener, so it could still be running (or die
    with an unretrieved exception) after disconnect returned. ``asyncio.wait`` never
    re-raises the tasks' exceptions, and a cancellation of *our* caller still propagates.
    """
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            logger.error("bus task %s had failed", task.get_name(), exc_info=task.exception())
