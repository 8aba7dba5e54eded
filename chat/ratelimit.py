"""Flood limits: token buckets per connection or key, and counters shared through Redis.

Per-connection and per-chat limits stay in process (a socket lives in one process).
Limits an attacker could multiply by spreading requests over processes — login
failures, new chats per IP, portal sign-ins — are counted in Redis when the desk
runs on Redis, with the in-process bucket kept as a floor (docs/security.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from chat.settings import Settings

log = logging.getLogger("chat.ratelimit")


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = now

    def allow(self, now: float, cost: float = 1.0) -> bool:
        if now > self.updated:  # a clock that steps back refills nothing, now or later
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def blocked(self, now: float) -> bool:
        """True when not even one event is allowed now (nothing is consumed)."""
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        return self.tokens < 1.0

    def full(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.updated) * self.rate >= self.capacity


class KeyedLimiter:
    """One bucket per key (a chat, an IP, an account), forgetting keys that went quiet.

    Per process: with several processes each enforces its own share; the limits are
    there to stop floods, not to meter exactly.
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[object, TokenBucket] = {}

    def _bucket(self, key: object, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_quiet(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket

    def allow(self, key: object, now: float) -> bool:
        return self._bucket(key, now).allow(now)

    def blocked(self, key: object, now: float) -> bool:
        bucket = self._buckets.get(key)
        return bucket is not None and bucket.blocked(now)

    def forget(self, key: object) -> None:
        """Start this key afresh (tests; an admin unlocking an account)."""
        self._buckets.pop(key, None)

    def _forget_quiet(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: drop the oldest half
            for key in list(self._buckets)[: self.max_keys // 2]:
                del self._buckets[key]


LOGIN_WINDOW_SECONDS = 300.0
NEW_CHATS_WINDOW_SECONDS = 3600.0
# After Redis fails, skip it this long: requests must not each pay a connect timeout.
REDIS_RETRY_SECONDS = 5.0
# A rate-limit check may delay a login or a new chat by at most about this much.
REDIS_TIMEOUT_SECONDS = 0.5

# One atomic fixed window: count the hit, start the window's expiry on the first one.
# PTTL < 0 also heals a key that somehow lost its expiry, so no key lives forever.
_HIT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""


class SharedCounters:
    """Fixed-window counters in Redis, shared by every process of one desk.

    Any Redis failure returns None ("unknown") and pauses Redis use for
    REDIS_RETRY_SECONDS; callers then fail open to their in-process floor.
    """

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._hit = client.register_script(_HIT_SCRIPT)
        self._down_until = 0.0

    @classmethod
    def from_url(cls, url: str, prefix: str) -> SharedCounters:
        from redis.asyncio import Redis  # lazy: memory-bus setups never import redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = Redis.from_url(
            url,
            protocol=2,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client, prefix)

    def key(self, name: str, key: str) -> str:
        return f"{self.prefix}:ratelimit:{name}:{key}"

    async def hit(self, name: str, key: str, window_seconds: float) -> int | None:
        """Count one event; the window's count so far, or None when Redis is unavailable."""
        return await self._call(self._hit, keys=[self.key(name, key)], args=[_ms(window_seconds)])

    async def count(self, name: str, key: str) -> int | None:
        return await self._call(self.client.get, self.key(name, key))

    async def forget(self, name: str, key: str) -> None:
        await self._call(self.client.delete, self.key(name, key))

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> int | None:
        from redis.exceptions import RedisError

        now = time.monotonic()
        if now < self._down_until:
            return None
        try:
            value = await method(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = now + REDIS_RETRY_SECONDS
            log.warning(
                "rate limits: Redis unavailable (%s); each process enforces only its own "
                "share for %.0f s",
                exc,
                REDIS_RETRY_SECONDS,
            )
            return None
        return int(value or 0)

    async def close(self) -> None:
        await self.client.aclose()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class SharedLimiter:
    """At most `limit` events per key per window, across every process.

    The in-process bucket always applies (a floor that needs nothing else); with
    Redis, a shared fixed window applies too, so N processes give N × nothing
    extra. Redis unreachable → fail open to the floor, logged: a Redis outage
    must not stop chats or logins, and each process still stops a flood alone.
    """

    def __init__(
        self,
        name: str,
        limit: int,
        window_seconds: float,
        shared: SharedCounters | None = None,
        max_keys: int = 100_000,
    ) -> None:
        self.name = name
        self.limit = limit
        self.window_seconds = window_seconds
        self.shared = shared
        self.local = KeyedLimiter(limit / window_seconds, limit, max_keys)

    async def hit(self, key: str) -> bool:
        """Count one event for `key`; False when it goes over the limit."""
        if not self.local.allow(key, time.monotonic()):
            return False
        if self.shared is None:
            return True
        count = await self.shared.hit(self.name, key, self.window_seconds)
        return count is None or count <= self.limit

    async def blocked(self, key: str) -> bool:
        """True when the next event for `key` would be refused (nothing is counted)."""
        if self.local.blocked(key, time.monotonic()):
            return True
        if self.shared is None:
            return False
        count = await self.shared.count(self.name, key)
        return count is not None and count >= self.limit

    async def forget(self, key: str) -> None:
        self.local.forget(key)
        if self.shared is not None:
            await self.shared.forget(self.name, key)


@dataclass
class EdgeLimits:
    """The flood limits (docs/security.md, "Limits"): `chat_messages` per process (a
    chat's sockets are throttled where they live), the rest shared through Redis."""

    chat_messages: KeyedLimiter
    new_chats_per_ip: SharedLimiter
    login_per_ip: SharedLimiter
    login_per_account: SharedLimiter
    portal_sign_in_per_ip: SharedLimiter
    # Files per chat: a chat's two sides may upload through different processes.
    chat_uploads: SharedLimiter
    shared: SharedCounters | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        """Redis counters when the desk runs on Redis (REDIS_URL); in-process otherwise.

        Nothing connects here: the client connects on first use, so a Redis that is
        down at startup only means in-process limits until it is back.
        """
        url = settings.redis_url or ""
        shared = (
            SharedCounters.from_url(url, settings.bus_prefix)
            if url.startswith(("redis://", "rediss://"))  # as the bus: memory:// is one process
            else None
        )
        failures = settings.login_failures_allowed
        return cls(
            chat_messages=KeyedLimiter(
                settings.rate_chat_messages_per_minute / 60.0,
                settings.rate_chat_messages_per_minute,
            ),
            new_chats_per_ip=SharedLimiter(
                "new_chats_ip",
                settings.rate_new_chats_per_ip_per_hour,
                NEW_CHATS_WINDOW_SECONDS,
                shared,
            ),
            login_per_ip=SharedLimiter("login_ip", failures, LOGIN_WINDOW_SECONDS, shared),
            login_per_account=SharedLimiter(
                "login_account", failures, LOGIN_WINDOW_SECONDS, shared
            ),
            portal_sign_in_per_ip=SharedLimiter(
                "portal_sign_in_ip", failures, LOGIN_WINDOW_SECONDS, shared
            ),
            chat_uploads=SharedLimiter(
                "chat_uploads", settings.rate_chat_uploads_per_minute, 60.0, shared
            ),
            shared=shared,
        )

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()
