"""The process's event bus: carries "something happened" to the processes whose sockets care.

Durable in the database, volatile on the bus: delivery is at-most-once and clients refill
sequence gaps from the DB, so no chat ever waits on Redis. ``publish`` is synchronous and
only buffers; one flusher task hands everything published in an event-loop pass to the
backend in a single call (one Redis pipeline), so a chat message costs no awaited round
trip. Modeled on encode/broadcaster, minus its flaws: payloads are msgpack bytes,
background tasks are cancelled *and awaited*, bad input raises real exceptions.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Self
from urllib.parse import urlsplit

from chat.bus.base import (
    BusBackend,
    Event,
    Handler,
    Subscription,
    cancel_and_wait,
    decode_event,
    encode_event,
)
from chat.bus.memory import MemoryBackend

__all__ = ["Bus", "BusBackend", "Event", "Handler", "MemoryBackend", "Subscription"]

logger = logging.getLogger("chat.bus")

# On disconnect, buffered events get this long to reach the backend before being dropped.
SHUTDOWN_FLUSH_TIMEOUT = 5.0


def create_backend(url: str | None) -> BusBackend:
    """None/"" or memory:// → in-process; redis:// or rediss:// → Redis."""
    scheme = urlsplit(url).scheme if url else "memory"
    if scheme == "memory":
        return MemoryBackend()
    if url and scheme in ("redis", "rediss"):
        from chat.bus.redis import RedisBackend  # lazy: memory-only setups never import redis

        return RedisBackend(url)
    # The URL itself is left out of the message: it may carry a password.
    raise ValueError(f"unsupported bus URL scheme {scheme!r}; use memory://, redis:// or rediss://")


class Bus:
    """One per process: the hub subscribes for its sockets, request handlers publish."""

    def __init__(
        self, url: str | None = None, *, prefix: str = "chatdesk", backend: BusBackend | None = None
    ) -> None:
        if backend is not None and url is not None:
            raise ValueError("pass either a bus url or a backend, not both")
        if not prefix:
            raise ValueError("the bus prefix must be a non-empty string")
        self._backend = backend if backend is not None else create_backend(url)
        self._prefix = f"{prefix}:"  # lets deployments and test runs share one Redis
        self._subs: dict[str, dict[Subscription, None]] = {}  # ordered sets of handlers
        self._upstream: set[str] = set()  # subscribed, or being subscribed, upstream
        self._confirmed: set[str] = set()
        # Channels whose wanted state changed since the syncer last ran. The syncer looks at
        # these alone: a desk with 10,000 open channels must not compare them all whenever
        # one chat starts or ends.
        self._changed: set[str] = set()
        self._outbox: list[tuple[str, bytes]] = []
        self._published = 0  # events ever published ...
        self._handed = 0  # ... and how many of them the flusher has dealt with
        self._batch_done: asyncio.Future[None] | None = None  # what flush() waits on
        self._wake_flusher = asyncio.Event()
        self._wake_syncer = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._publish_failing = False

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    @property
    def healthy(self) -> bool:
        """False while the bus or its backend is disconnected (readiness probes)."""
        return bool(self._tasks) and self._backend.healthy

    async def connect(self) -> None:
        if self._tasks:
            raise RuntimeError("Bus is already connected")
        await self._backend.connect()
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="chat.bus.reader"),
            asyncio.create_task(self._flush_loop(), name="chat.bus.flusher"),
            asyncio.create_task(self._sync_loop(), name="chat.bus.subscriber"),
        ]
        self._changed |= self._subs.keys()  # subscriptions made before connect()
        self._wake_syncer.set()

    async def disconnect(self) -> None:
        """Flush (bounded), stop every task we started, then close the backend."""
        if not self._tasks:
            return
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_TIMEOUT):
                await self.flush()
        except TimeoutError:
            logger.warning("bus disconnected with %d events unsent", len(self._outbox))
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)
        self._outbox.clear()
        self._handed = self._published
        self._batch_flushed()  # releases concurrent flush() calls
        self._upstream.clear()
        self._confirmed.clear()
        for subs in self._subs.values():
            for sub in subs:
                sub._set_ready(False)
        await self._backend.disconnect()

    def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """Register a handler now; the upstream SUBSCRIBE (once per channel) runs in the
        background. ``await subscription.ready()`` to know it is in effect."""
        _check_channel(channel)
        if not callable(handler):
            raise TypeError("a bus handler must be callable")
        sub = Subscription(channel, handler, self._remove)
        self._subs.setdefault(channel, {})[sub] = None
        sub._set_ready(channel in self._confirmed)
        self._changed.add(channel)
        self._wake_syncer.set()
        return sub

    def publish(self, channel: str, event: Event) -> None:
        """Buffer an event; the flusher sends the whole buffer in one round trip."""
        _check_channel(channel)
        if not self._tasks:
            raise RuntimeError("Bus.publish() called while the bus is not connected")
        self._outbox.append((self._prefix + channel, encode_event(event)))
        self._published += 1
        self._wake_flusher.set()

    async def flush(self) -> None:
        """Wait until everything published so far was handed to the backend (or dropped
        because the backend failed: at-most-once)."""
        target = self._published
        while self._handed < target:
            if not self._tasks:
                raise RuntimeError("Bus.flush() called while the bus is not connected")
            if self._batch_done is None:
                self._batch_done = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._batch_done)  # one caller's cancel must not hit others

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after the backend regained its connection and restored the
        subscriptions: events may have been lost meanwhile, so refill from the DB. An
        exception in the callback is logged and does not affect the others."""
        self._backend.add_reconnect_callback(callback)

    def _remove(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs is None or sub not in subs:
            return
        del subs[sub]
        if not subs:
            del self._subs[sub.channel]
            self._changed.add(sub.channel)
            self._wake_syncer.set()

    async def _read_loop(self) -> None:
        while True:
            upstream, data = await self._backend.next_published()
            if not upstream.startswith(self._prefix):
                continue
            subs = self._subs.get(upstream[len(self._prefix) :])
            if not subs:
                continue  # a message that raced an unsubscribe
            try:
                event = decode_event(data)
            except Exception:
                logger.exception("bus dropped an undecodable payload on %r", upstream)
                continue
            for sub in list(subs):
                sub._deliver(event)

    async def _flush_loop(self) -> None:
        while True:
            await self._wake_flusher.wait()
            self._wake_flusher.clear()
            batch, self._outbox = self._outbox, []
            if batch:
                try:
                    await self._backend.publish_many(batch)
                except Exception as exc:
                    level = logging.DEBUG if self._publish_failing else logging.WARNING
                    logger.log(level, "bus publish failed, %d events dropped: %s", len(batch), exc)
                    self._publish_failing = True
                else:
                    if self._publish_failing:
                        logger.info("bus publishing works again")
                    self._publish_failing = False
                self._handed += len(batch)
            self._batch_flushed()

    def _batch_flushed(self) -> None:
        if self._batch_done is not None:
            if not self._batch_done.done():
                self._batch_done.set_result(None)
            self._batch_done = None

    async def _sync_loop(self) -> None:
        """Reconcile upstream subscriptions with the wanted channels; changes coalesce, so
        a flurry of subscribe/close costs at most one SUBSCRIBE or UNSUBSCRIBE each."""
        while True:
            await self._wake_syncer.wait()
            self._wake_syncer.clear()
            changed, self._changed = self._changed, set()
            added = []
            for channel in changed:
                wanted = channel in self._subs
                if wanted and channel not in self._upstream:
                    added.append(channel)
                elif not wanted and channel in self._upstream:
                    self._upstream.discard(channel)
                    self._confirmed.discard(channel)
                    await self._call_backend(self._backend.unsubscribe, channel)
            self._upstream.update(added)
            await asyncio.gather(*(self._subscribe_upstream(channel) for channel in added))

    async def _subscribe_upstream(self, channel: str) -> None:
        if not await self._call_backend(self._backend.subscribe, channel):
            self._upstream.discard(channel)
            self._changed.add(channel)  # retried on the next change
            return
        self._confirmed.add(channel)
        for sub in self._subs.get(channel, ()):
            sub._set_ready(True)

    async def _call_backend(self, method: Callable[[str], Awaitable[None]], channel: str) -> bool:
        try:
            await method(self._prefix + channel)
        except Exception:  # a backend bug must not stop the other channels' bookkeeping
            logger.exception("bus %s(%r) failed", method.__name__, channel)
            return False
        return True


def _check_channel(channel: str) -> None:
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"a bus channel must be a non-empty str, got {channel!r}")
