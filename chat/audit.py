"""The audit log: security-relevant actions with actor, IP and time (docs/security.md).

Logins (and failed ones), logouts, role and permission changes, API tokens made and
revoked, settings changes and transcript exports each leave one row. Secrets never
appear in a row: tokens are named by their prefix only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.models import AuditEntry
from ticketing.clock import Clock
from ticketing.db import transaction

LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGOUT = "logout"
AGENT_CHANGED = "agent_changed"  # role, capacity, services, active
SETTINGS_CHANGED = "settings_changed"  # services, categories, organizations, webhooks
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
TRANSCRIPT_EXPORTED = "transcript_exported"


def entry(
    action: str,
    clock: Clock,
    *,
    actor_type: str,
    actor_id: int | None = None,
    actor_name: str = "",
    ip: str = "",
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry(
        at=clock.now(),
        action=action,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_name=actor_name[:254],
        ip=ip[:64],
        target=target[:120],
        details=details,
    )


async def record(sessions: async_sessionmaker[AsyncSession], row: AuditEntry) -> None:
    """Write one row in its own transaction (for actions that have none, like a login)."""
    async with transaction(sessions) as session:
        session.add(row)


def add(session: AsyncSession, row: AuditEntry) -> None:
    """Write one row inside the caller's transaction: the change and its trace commit together."""
    session.add(row)
