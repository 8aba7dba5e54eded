"""Contract tests for chat.bus, run against every backend, plus Redis fault tests."""

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

import pytest
import redis
import uvloop

import chat.bus.redis
from chat.bus import Bus, BusBackend, Event, MemoryBackend, create_backend

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT = 5.0  # seconds any single wait in these tests may take


def _unavailable(reason: str) -> None:
    """CI must run every backend; a laptop without Redis just skips those cases."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _require_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        _unavailable(f"Redis not reachable at {url}: {exc}")
    finally:
        client.close()


@pytest.fixture(params=["memory://", REDIS_URL], ids=["memory", "redis"])
def bus_url(request: pytest.FixtureRequest) -> str:
    url: str = request.param
    if url != "memory://":
        _require_redis(url)
    return url


def _prefix() -> str:
    """Unique per test, so parallel workers sharing one Redis never see each other."""
    return f"test-{uuid.uuid4().hex}"


class SpyBackend(BusBackend):
    """Delegates to a real backend and records what the Bus asked of it."""

    def __init__(self, inner: BusBackend) -> None:
        super().__init__()
        self.inner = inner
        self.subscribed: list[str] = []
        self.unsubscribed: list[str] = []
        self.batches: list[list[tuple[str, bytes]]] = []

    @property
    def healthy(self) -> bool:
        return self.inner.healthy

    def add_reconnect_callback(self, callback: Callable[[], None]) -> None:
        self.inner.add_reconnect_callback(callback)

    async def connect(self) -> None:
        await self.inner.connect()

    async def disconnect(self) -> None:
        await self.inner.disconnect()

    async def subscribe(self, channel: str) -> None:
        self.subscribed.append(channel)
        await self.inner.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.unsubscribed.append(channel)
        await self.inner.unsubscribe(channel)

    async def publish_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        self.batches.append(list(items))
        await self.inner.publish_many(items)

    async def next_published(self) -> tuple[str, bytes]:
        return await self.inner.next_published()


class Collector:
    """A handler that remembers what it got and lets a test wait for it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []
        self._changed = asyncio.Event()

    def __call__(self, channel: str, event: Event) -> None:
        self.events.append((channel, event))
        self._changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.events) < count:
                await self._changed.wait()
                self._changed.clear()

    def types(self) -> list[str]:
        return [event["type"] for _, event in self.events]


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
def spy(bus_url: str) -> SpyBackend:
    return SpyBackend(create_backend(bus_url))


@pytest.fixture
async def bus(spy: SpyBackend) -> AsyncIterator[Bus]:
    async with Bus(backend=spy, prefix=_prefix()) as bus:
        yield bus


async def subscribed(bus: Bus, channel: str, handler: Callable[[str, Event], None]) -> None:
    async with asyncio.timeout(WAIT):
        await bus.subscribe(channel, handler).ready()


# --- the contract, for every backend ------------------------------------------------------


async def test_round_trip_keeps_msgpack_types(bus: Bus) -> None:
    got = Collector()
    await subscribed(bus, "room", got)
    event = {
        "type": "message.created",
        "text": "héllo ✓",
        "seq": 42,
        "big": 2**40,
        "negative": -7,
        "ratio": 0.5,
        "flag": True,
        "blob": b"\x00\xff\x10",
        "nested": {"list": [1, "two", {"three": None}], "empty": {}},
        "nothing": None,
    }
    bus.publish("room", event)
    await got.wait_for(1)
    assert got.events == [("room", event)]  # handlers see the channel without the prefix


async def test_fan_out_uses_one_upstream_subscription(bus: Bus, spy: SpyBackend) -> None:
    first, second = Collector(), Collector()
    await subscribed(bus, "room", first)
    await subscribed(bus, "room", second)
    bus.publish("room", {"type": "ping"})
    await first.wait_for(1)
    await second.wait_for(1)
    assert len(spy.subscribed) == 1 and spy.subscribed[0].endswith(":room")


async def test_close_stops_delivery_and_last_close_unsubscribes(bus: Bus, spy: SpyBackend) -> None:
    kept, dropped, sentinel = Collector(), Collector(), Collector()
    sub_kept = bus.subscribe("room", kept)
    sub_dropped = bus.subscribe("room", dropped)
    await subscribed(bus, "sentinel", sentinel)
    async with asyncio.timeout(WAIT):
        await sub_kept.ready()
        await sub_dropped.ready()

    sub_dropped.close()
    sub_dropped.close()  # idempotent: must not release the other subscription's count
    bus.publish("room", {"type": "one"})
    await kept.wait_for(1)
    assert dropped.events == []
    assert spy.unsubscribed == []

    sub_kept.close()
    await eventually(lambda: len(spy.unsubscribed) == 1)
    assert spy.unsubscribed[0].endswith(":room")
    bus.publish("room", {"type": "two"})
    bus.publish("sentinel", {"type": "after"})
    await sentinel.wait_for(1)  # published after "two" on the same connection
    assert kept.types() == ["one"] and dropped.events == []


async def test_a_channel_closed_and_reopened_at_once_stays_subscribed(
    bus: Bus, spy: SpyBackend
) -> None:
    got = Collector()
    first = bus.subscribe("room", got)
    async with asyncio.timeout(WAIT):
        await first.ready()
    first.close()
    again = bus.subscribe("room", got)  # before the syncer ran: the close and this coalesce
    await asyncio.sleep(0.05)
    other = bus.subscribe("room", Collector())
    other.close()  # a last change to the channel while it is subscribed: nothing to do
    async with asyncio.timeout(WAIT):
        await again.ready()
    bus.publish("room", {"type": "after"})
    await got.wait_for(1)
    assert len(spy.subscribed) - len(spy.unsubscribed) == 1


async def test_a_failed_upstream_subscribe_is_retried_on_the_next_change(
    bus: Bus, spy: SpyBackend
) -> None:
    calls = 0
    subscribe = spy.subscribe

    async def fails_once(channel: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("upstream refused")
        await subscribe(channel)

    spy.subscribe = fails_once  # type: ignore[method-assign]
    got = Collector()
    failed = bus.subscribe("room", got)
    await eventually(lambda: calls == 1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await failed.ready()
    await subscribed(bus, "another", Collector())  # any change retries the failed channel
    async with asyncio.timeout(WAIT):
        await failed.ready()
    bus.publish("room", {"type": "late"})
    await got.wait_for(1)


async def test_each_change_touches_only_its_channel(bus: Bus, spy: SpyBackend) -> None:
    """A desk holds thousands of channels; starting or ending one chat subscribes or
    unsubscribes that chat's channel and asks the backend nothing about the others."""
    subs = [bus.subscribe(f"chat:{n}", Collector()) for n in range(2000)]
    async with asyncio.timeout(WAIT):
        for sub in subs:
            await sub.ready()
    assert len(spy.subscribed) == 2000
    subs[7].close()
    last = Collector()
    await subscribed(bus, "chat:new", last)
    await eventually(lambda: len(spy.unsubscribed) == 1)
    assert spy.unsubscribed[0].endswith(":chat:7")
    assert spy.subscribed[-1].endswith(":chat:new") and len(spy.subscribed) == 2001


async def test_order_is_preserved_for_many_rapid_publishes(bus: Bus, spy: SpyBackend) -> None:
    got = Collector()
    await subscribed(bus, "room", got)
    for n in range(1000):
        bus.publish("room", {"type": "n", "n": n})
        if n % 100 == 99:
            await asyncio.sleep(0)  # let the flusher run: order must hold across batches
    await got.wait_for(1000)
    assert [event["n"] for _, event in got.events] == list(range(1000))
    assert 1 < len(spy.batches) <= 1000


async def test_one_loop_pass_is_one_backend_call(bus: Bus, spy: SpyBackend) -> None:
    for n in range(50):
        bus.publish("room", {"type": "n", "n": n})
        bus.publish("other", {"type": "n", "n": n})
    assert spy.batches == []  # publish only buffers
    await bus.flush()
    assert len(spy.batches) == 1 and len(spy.batches[0]) == 100


async def test_raising_handler_does_not_stop_the_others(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(channel: str, event: Event) -> None:
        raise RuntimeError("handler bug")

    got = Collector()
    await subscribed(bus, "room", broken)
    await subscribed(bus, "room", got)
    with caplog.at_level(logging.ERROR, logger="chat.bus"):
        bus.publish("room", {"type": "one"})
        bus.publish("room", {"type": "two"})
        await got.wait_for(2)
    assert got.types() == ["one", "two"]
    assert sum("handler bug" in (r.exc_text or "") for r in caplog.records) == 2


async def test_bad_events_fail_at_publish_time(bus: Bus, spy: SpyBackend) -> None:
    with pytest.raises(TypeError):
        bus.publish("room", {"type": "x", "at": datetime.now(UTC)})
    with pytest.raises(TypeError):
        bus.publish("room", ["type", "x"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        bus.publish("room", {"no": "type"})
    await bus.flush()
    assert spy.batches == []


async def test_healthy_and_disconnect_leaves_no_running_tasks(spy: SpyBackend) -> None:
    before = asyncio.all_tasks()
    bus = Bus(backend=spy, prefix=_prefix())
    assert not bus.healthy
    await bus.connect()
    assert bus.healthy
    got = Collector()
    await subscribed(bus, "room", got)
    bus.publish("room", {"type": "one"})
    await got.wait_for(1)
    bus.publish("room", {"type": "unflushed"})  # disconnect flushes it
    await bus.disconnect()
    assert len(spy.batches) == 2
    assert {task for task in asyncio.all_tasks() - before if not task.done()} == set()
    assert not bus.healthy
    with pytest.raises(RuntimeError):
        bus.publish("room", {"type": "late"})
    await bus.disconnect()  # idempotent


# --- construction ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://localhost", "kafka://broker:9092", "localhost:6379"])
def test_unknown_url_scheme_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="scheme"):
        Bus(url)


def test_memory_is_the_default() -> None:
    assert isinstance(create_backend(None), MemoryBackend)
    assert isinstance(create_backend("memory://"), MemoryBackend)


# --- Redis faults ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A throwaway redis-server of our own: the shared one must never be stopped."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            _unavailable("redis-server is not installed")
        self.exe = exe or ""
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.exe, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client()
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    try:
                        client.ping()
                        return
                    except redis.ConnectionError:
                        await asyncio.sleep(0.05)
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # a crash, not a polite shutdown
            self.proc.wait(timeout=WAIT)
            self.proc = None


@pytest.fixture
async def redis_server() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    try:
        await server.start()
        yield server
    finally:
        server.stop()


async def test_redis_bus_reconnects_by_itself(redis_server: RedisServer) -> None:
    bus = Bus(redis_server.url, prefix=_prefix())
    try:
        await bus.connect()
        reconnects = Collector()
        bus.on_reconnect(lambda: reconnects("", {"type": "reconnected"}))
        got = Collector()
        await subscribed(bus, "room", got)
        bus.publish("room", {"type": "before"})
        await got.wait_for(1)

        redis_server.stop()
        await eventually(lambda: not bus.healthy)
        bus.publish("room", {"type": "during"})  # dropped and logged, never raised
        async with asyncio.timeout(WAIT):
            await bus.flush()
        await redis_server.start()
        await reconnects.wait_for(1)
        assert bus.healthy
        bus.publish("room", {"type": "after"})  # needs the restored subscription
        await got.wait_for(2)

        # Again, without publishing during the outage: the publisher's pooled connection
        # is stale now, and the first publish after the restart must still get through.
        redis_server.stop()
        await eventually(lambda: not bus.healthy)
        await redis_server.start()
        await reconnects.wait_for(2)
        bus.publish("room", {"type": "again"})
        await got.wait_for(3)
        assert got.types() == ["before", "after", "again"]
    finally:
        async with asyncio.timeout(WAIT):
            await bus.disconnect()


async def test_redis_silent_connection_is_detected(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that stops answering (half-open TCP, frozen server) counts as lost."""
    monkeypatch.setattr(chat.bus.redis, "HEALTH_CHECK_INTERVAL", 0.1)
    bus = Bus(redis_server.url, prefix=_prefix())
    try:
        await bus.connect()
        reconnected = asyncio.Event()
        bus.on_reconnect(reconnected.set)
        got = Collector()
        await subscribed(bus, "room", got)
        client = redis_server.client()
        try:
            client.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        finally:
            client.close()
        await eventually(lambda: not bus.healthy)
        async with asyncio.timeout(WAIT):
            await reconnected.wait()
        bus.publish("room", {"type": "after"})
        await got.wait_for(1)
    finally:
        async with asyncio.timeout(WAIT):
            await bus.disconnect()


async def test_redis_publishing_to_a_frozen_server_fails_in_bounded_time(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One deadline bounds a whole pipeline of publishes (not one per reply): a frozen
    Redis fails the batch within it, and publishing works again once Redis answers."""
    monkeypatch.setattr(chat.bus.redis, "COMMAND_TIMEOUT", 0.3)
    backend = chat.bus.redis.RedisBackend(redis_server.url)
    await backend.connect()
    try:
        client = redis_server.client()
        try:
            client.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        finally:
            client.close()
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await backend.publish_many([("room", b"one"), ("room", b"two")])
        assert asyncio.get_running_loop().time() - started < 1.2
        await asyncio.sleep(1.5)  # the pause is over
        await backend.publish_many([("room", b"three")])
    finally:
        async with asyncio.timeout(WAIT):
            await backend.disconnect()


def test_a_quiet_redis_connection_stays_up_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` runs on uvloop, whose clock ticks in milliseconds: a PONG back within the
    tick of its PING once counted as no answer, so a quiet subscriber connection was
    dropped and re-subscribed every two health-check intervals."""
    _require_redis(REDIS_URL)
    monkeypatch.setattr(chat.bus.redis, "HEALTH_CHECK_INTERVAL", 0.2)

    async def quiet_for_a_while() -> None:
        bus = Bus(REDIS_URL, prefix=_prefix())
        await bus.connect()
        try:
            reconnects: list[int] = []
            bus.on_reconnect(lambda: reconnects.append(1))
            await subscribed(bus, "room", Collector())
            await asyncio.sleep(1.5)  # nothing published: only PINGs and their answers
            assert bus.healthy and reconnects == []
        finally:
            await bus.disconnect()

    uvloop.run(quiet_for_a_while())


async def test_redis_unreachable_at_connect_fails_loudly() -> None:
    before = asyncio.all_tasks()
    bus = Bus(f"redis://127.0.0.1:{_free_port()}/0", prefix=_prefix())
    with pytest.raises(ConnectionError):
        await bus.connect()
    assert not bus.healthy
    assert {task for task in asyncio.all_tasks() - before if not task.done()} == set()
