"""Who is on the other end: agents by password and session, customers by signed token.

Agent sessions are server-side rows (the cookie holds a random token, the table its
SHA-256), so logging out really ends a session and can close its websockets.
Customer tokens are signed, name the customer and the site they were issued for,
and carry no secret of anybody else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.models import AgentSession, ApiToken
from chat.settings import Settings
from ticketing.clock import Clock
from ticketing.db import transaction
from ticketing.models import Agent

SESSION_COOKIE = "chatdesk_session"
CSRF_COOKIE = "chatdesk_csrf"
CSRF_HEADER = "x-csrf-token"
_CUSTOMER_SALT = "chatdesk.customer-token"

# argon2-cffi's defaults (64 MiB, 3 passes) in production. The test suite, which
# hashes hundreds of throwaway passwords, sets CHATDESK_TEST_FAST_HASHING=1 for a
# cheap profile; nothing else should.
_hasher = (
    PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    if os.environ.get("CHATDESK_TEST_FAST_HASHING") == "1"
    else PasswordHasher()
)
# Verifying against this when the email is unknown keeps the timing of a failed
# login the same whether or not the account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    """argon2 on a worker thread: each hash takes tens of milliseconds of CPU (it is meant
    to), and on the event loop it held every chat of the process that long."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """On a worker thread, as `hash_password`: a shift's agents signing in at once held
    the loop ~90 ms each (bench.routing's log, with `LOOP_STALL_WARN_SECONDS=0.04`)."""
    return await asyncio.to_thread(_verify, password_hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoggedIn:
    agent: Agent
    token_hash: str
    csrf_token: str


async def authenticate(session: AsyncSession, email: str, password: str) -> Agent | None:
    agent = await session.scalar(
        select(Agent).where(Agent.email == email.strip().lower(), Agent.active.is_(True))
    )
    if agent is None:
        await verify_password(_DUMMY_HASH, password)
        return None
    return agent if await verify_password(agent.password_hash, password) else None


async def start_session(
    sessions: async_sessionmaker[AsyncSession],
    agent_id: int,
    settings: Settings,
    clock: Clock,
    ip: str = "",
    user_agent: str = "",
) -> tuple[str, str]:
    """A fresh session (a new id at every login); returns (cookie token, CSRF token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = clock.now()
    async with transaction(sessions) as session:
        session.add(
            AgentSession(
                token_hash=_digest(token),
                agent_id=agent_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + dt.timedelta(seconds=settings.session_max_age_seconds),
                ip=ip[:64],
                user_agent=user_agent[:500],
            )
        )
    return token, csrf


async def session_agent(
    sessions: async_sessionmaker[AsyncSession], token: str | None, clock: Clock
) -> LoggedIn | None:
    """The agent a console's session cookie names, if the session is live and the agent
    active. The session row and its agent in one statement (every console request and
    every reconnect asks), then the agent's services."""
    if not token:
        return None
    async with sessions() as session:
        found = (
            await session.execute(
                select(AgentSession, Agent)
                .join(Agent, Agent.id == AgentSession.agent_id)
                .where(AgentSession.token_hash == _digest(token))
            )
        ).first()
        if found is None:
            return None
        row, agent = found
        if row.expires_at <= clock.now() or not agent.active:
            return None
        return LoggedIn(agent, row.token_hash, row.csrf_token)


async def end_session(sessions: async_sessionmaker[AsyncSession], token_hash: str) -> None:
    async with transaction(sessions) as session:
        await session.execute(delete(AgentSession).where(AgentSession.token_hash == token_hash))


API_TOKEN_PREFIX = "cdk_"


def new_api_token() -> tuple[str, str, str]:
    """(token shown once, its hash to store, a short prefix to tell tokens apart)."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, _digest(token), token[:12]


async def agent_for_api_token(
    sessions: async_sessionmaker[AsyncSession], token: str, clock: Clock
) -> LoggedIn | None:
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    async with transaction(sessions) as session:
        row = await session.scalar(
            select(ApiToken).where(
                ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None)
            )
        )
        if row is None:
            return None
        agent = await session.get(Agent, row.agent_id)
        if agent is None or not agent.active:
            return None
        row.last_used_at = clock.now()
        # No session: callers return before their CSRF check (no cookie rides along).
        return LoggedIn(agent, "api-token", "")


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, given or "")


class CustomerTokens:
    """Signed `{customer, site}` tokens kept by the widget to resume the same chat."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeSerializer(secret_key, salt=_CUSTOMER_SALT)

    def issue(self, customer_id: int, site: str) -> str:
        return self._serializer.dumps({"c": customer_id, "s": site})

    def verify(self, token: object, site: str) -> int | None:
        """The customer id, or None for a forged token or one issued to another site."""
        if not isinstance(token, str) or len(token) > 512:
            return None
        try:
            data = self._serializer.loads(token)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), int):
            return None
        if data.get("s") != site:
            return None
        return int(data["c"])


def allowed_origins(settings: Settings, saved: Iterable[str] = ()) -> frozenset[str]:
    """Chatdesk's own origin, the configured sites, and loopback twins in development.

    `saved` are the sites an admin added in the console (`runtime.widget.origins`,
    chat/widget_settings.py): allowed as well, without a redeploy.
    """
    origins = {settings.origin, *settings.allowed_origins, *saved}
    if settings.host in ("127.0.0.1", "localhost"):
        origins |= {f"http://127.0.0.1:{settings.port}", f"http://localhost:{settings.port}"}
    return frozenset(origins)


def origin_allowed(origin: str | None, settings: Settings, saved: Iterable[str] = ()) -> bool:
    """Exact match only: `null`, look-alikes and other ports are refused."""
    if not origin or origin == "null":
        return False
    return origin.rstrip("/") in allowed_origins(settings, saved)
