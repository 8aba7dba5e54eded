"""Redis pub/sub backend: PUBLISH batches on one connection, SUBSCRIBE on another, both ours.

Why a raw redis-py ``Connection`` for listening rather than ``PubSub``: PubSub reconnects
and re-subscribes silently inside its retry logic, so we could neither report ``healthy``
nor tell the application that events may have been missed (the on_reconnect contract).
Owning the connection makes every outage visible: it is noticed, retried with backoff,
restored and announced here, and nothing else ever blocks on it.

Publishing has a connection of its own too, written by the one flushing task: a loop
pass's events go out as one write of packed `PUBLISH` commands and their replies are
read back. redis-py's pipeline did the same write, but its pool checkout, retry wrapper
and per-command bookkeeping were a tenth of the server's CPU at 2,000 msgs/s
(docs/performance.md).
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat.bus.base import BusBackend, cancel_and_wait
from chat.deadline import QuietDeadline

logger = logging.getLogger("chat.bus")

# Reconnect backoff. The first retry comes quickly because most outages are a restart or
# failover that is over in well under a second; doubling up to a 2 s cap stops every
# process from hammering a Redis that is down for longer, yet heals within 2 s of it
# coming back, which is the longest stall users should see.
RECONNECT_DELAY_MIN = 0.1
RECONNECT_DELAY_MAX = 2.0
# A half-open TCP connection (peer gone without a FIN) is only noticed when we talk: after
# this long without traffic the listener sends PING and gives up after another silent one.
HEALTH_CHECK_INTERVAL = 5.0
# Bound connecting and publishing, so a black-holed Redis fails a flush in seconds instead
# of stalling every later publish behind it. Query parameters in the URL override these.
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


class RedisBackend(BusBackend):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._client: Redis | None = None
        self._conn: AbstractConnection | None = None  # live subscriber connection
        self._publisher: AbstractConnection | None = None  # written by publish_many only
        self._channels: set[bytes] = set()  # what to (re)subscribe upstream
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None
        self._healthy = False

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def connect(self) -> None:
        """Connect or raise ConnectionError: a wrong URL at startup should be loud.

        Outages *after* a successful connect are survived by the listener.
        """
        if self._listener is not None:
            raise RuntimeError("RedisBackend is already connected")
        # The client is only where our two connections take their settings from (`_open`).
        # No hidden retries: a batch resent after a partial failure would duplicate
        # events, and retry sleeps would stall the flusher. The listener owns reconnection.
        # RESP2: with RESP3, redis-py >= 8 enables maintenance notifications, which change
        # how a connection the server closed is noticed. No socket timeout (redis-py's
        # default is 5 s): it arms one for every reply it reads, so a batch of N publishes
        # armed N; `publish_many` bounds the whole batch with one instead.
        client = Redis.from_url(
            self._url,
            protocol=2,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=None,
            retry=Retry(NoBackoff(), 0),
        )
        self._client = client
        self._queue = asyncio.Queue()
        try:
            conn = await self._open()
        except BaseException as exc:
            self._client = None
            await client.aclose()
            if isinstance(exc, RedisError | OSError):
                raise ConnectionError(f"bus cannot reach Redis: {exc}") from exc
            raise
        self._healthy = True
        self._listener = asyncio.create_task(self._listen(conn), name="chat.bus.redis-listener")

    async def disconnect(self) -> None:
        if self._listener is not None:
            await cancel_and_wait([self._listener])  # its finally closes the connection
            self._listener = None
        self._healthy = False
        await self._drop_publisher()
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()
        self._channels.clear()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def subscribe(self, channel: str) -> None:
        key = channel.encode()
        self._channels.add(key)
        confirmed = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(confirmed)
        await self._send("SUBSCRIBE", key)
        await confirmed

    async def unsubscribe(self, channel: str) -> None:
        key = channel.encode()
        self._channels.discard(key)
        await self._send("UNSUBSCRIBE", key)

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """One write for every PUBLISH, then their replies; one deadline for all of it. On
        any failure the connection is dropped (its replies would be out of step) and the
        next batch opens another: nothing is resent, so nothing is published twice."""
        if self._client is None:
            raise ConnectionError("redis bus backend is not connected")
        async with asyncio.timeout(COMMAND_TIMEOUT):
            conn = await self._publishing_connection()
            try:
                commands = conn.pack_commands(
                    [("PUBLISH", channel, data) for channel, data in items]
                )
                await conn.send_packed_command(commands, check_health=False)
                for _ in items:
                    await conn.read_response()
            except BaseException:
                await self._drop_publisher()
                raise

    async def _publishing_connection(self) -> AbstractConnection:
        """The publisher connection, checked as redis-py's pool checks a connection before
        lending it: one with something to read is broken (after a Redis restart, its
        socket is at end of file), and is replaced before the batch is written to it."""
        conn = self._publisher
        if conn is not None and conn.is_connected:
            try:
                if not await conn.can_read():
                    return conn
            except (RedisError, OSError):
                pass
        await self._drop_publisher()
        self._publisher = await self._open()
        return self._publisher

    async def _drop_publisher(self) -> None:
        conn, self._publisher = self._publisher, None
        if conn is not None:
            with contextlib.suppress(RedisError, OSError):
                await conn.disconnect(nowait=True)

    async def next_published(self) -> tuple[str, bytes]:
        return await self._queue.get()

    async def _open(self) -> AbstractConnection:
        if self._client is None:
            raise ConnectionError("redis bus backend is not connected")
        pool = self._client.connection_pool
        # RESP2 (even if the URL asks for 3), so pub/sub messages come back from
        # read_response; no socket_timeout, so a write is one synchronous writelines (we
        # bound reads ourselves); no redis-py health checks, which would read (and
        # swallow) pub/sub messages.
        kwargs = {**pool.connection_kwargs, "protocol": 2, "socket_timeout": None}
        kwargs["health_check_interval"] = 0
        for key in ("maint_notifications_config", "maint_notifications_pool_handler"):
            if key in kwargs:  # redis-py >= 8: RESP3-only, refused with RESP2
                kwargs[key] = None
        conn = pool.connection_class(**kwargs)
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT + COMMAND_TIMEOUT):
                await conn.connect()
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        return conn

    async def _send(self, *args: bytes | str) -> None:
        """Write on the live subscriber connection, if there is one.

        Failures are the listener's business: it notices the broken connection,
        reconnects and re-subscribes everything in ``_channels``.
        """
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # checked right before the synchronous write: no orphan reconnect
        try:
            await conn.send_command(*args, check_health=False)
        except (RedisError, OSError) as exc:
            logger.debug("bus: %s not sent (%s); the listener will restore it", args[0], exc)

    async def _listen(self, conn: AbstractConnection | None) -> None:
        delay = RECONNECT_DELAY_MIN
        announce = False
        while True:
            try:
                if conn is None:
                    conn = await self._open()
                await self._serve(conn, announce=announce)
            except Exception as exc:
                if not isinstance(exc, RedisError | OSError):
                    logger.exception("bus listener failed; reconnecting")
                elif self._healthy:
                    logger.warning("bus lost Redis (%s); reconnecting", exc)
                else:
                    logger.debug("bus reconnect attempt failed: %s", exc)
                if self._healthy:
                    delay = RECONNECT_DELAY_MIN
            finally:
                self._healthy = False
                self._conn = None
                if conn is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await conn.disconnect(nowait=True)
                conn = None
            announce = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_MAX)

    async def _serve(self, conn: AbstractConnection, *, announce: bool) -> None:
        """Restore the subscriptions, then read until the connection breaks."""
        self._conn = conn
        restoring = set(self._channels)
        if restoring:
            await conn.send_command("SUBSCRIBE", *restoring, check_health=False)
        else:
            self._mark_up(announce)
        pings: set[asyncio.Task[None]] = set()

        def ping() -> None:  # any reply proves the connection alive
            task = asyncio.ensure_future(self._send("PING"))
            pings.add(task)
            task.add_done_callback(pings.discard)

        silence = QuietDeadline(HEALTH_CHECK_INTERVAL, on_quiet=ping)
        try:
            while True:
                silence.waiting()
                try:
                    # No timeout here (the connection has no socket_timeout): `silence`
                    # watches the connection instead of a timer armed for every reply.
                    reply = await conn.read_response(disable_decoding=True)
                except asyncio.CancelledError:
                    if not silence.expired:
                        raise
                    asyncio.current_task().uncancel()  # type: ignore[union-attr]
                    raise TimeoutError("no reply from Redis to PING") from None
                if not isinstance(reply, list) or len(reply) < 3:
                    continue  # PONG: it only proved the connection is alive
                kind, channel, payload = reply[0], reply[1], reply[2]
                if kind == b"message":
                    self._queue.put_nowait((channel.decode(errors="replace"), payload))
                elif kind == b"subscribe":
                    for future in self._waiters.pop(channel, []):
                        if not future.done():
                            future.set_result(None)
                    if restoring:
                        restoring.discard(channel)
                        if not restoring:
                            self._mark_up(announce)
        finally:
            silence.cancel()
            for task in pings:
                task.cancel()

    def _mark_up(self, announce: bool) -> None:
        self._healthy = True
        if announce:
            logger.info("bus reconnected to Redis; subscriptions restored")
            self._notify_reconnected()
