"""Token buckets: N events a second with a burst, per connection or per key. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.settings import Settings


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

    def _forget_quiet(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: drop the oldest half
            for key in list(self._buckets)[: self.max_keys // 2]:
                del self._buckets[key]


LOGIN_WINDOW_SECONDS = 300.0


@dataclass
class EdgeLimits:
    """The flood limits of one process (docs/security.md, "Limits")."""

    chat_messages: KeyedLimiter
    new_chats_per_ip: KeyedLimiter
    login_per_ip: KeyedLimiter
    login_per_account: KeyedLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        failures = settings.login_failures_allowed
        return cls(
            chat_messages=KeyedLimiter(
                settings.rate_chat_messages_per_minute / 60.0,
                settings.rate_chat_messages_per_minute,
            ),
            new_chats_per_ip=KeyedLimiter(
                settings.rate_new_chats_per_ip_per_hour / 3600.0,
                settings.rate_new_chats_per_ip_per_hour,
            ),
            login_per_ip=KeyedLimiter(failures / LOGIN_WINDOW_SECONDS, failures),
            login_per_account=KeyedLimiter(failures / LOGIN_WINDOW_SECONDS, failures),
        )
