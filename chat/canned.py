"""Canned responses: saved replies an agent inserts in a chat with a shortcut ("/refund").

Shared responses (no owner) are kept by admins, for the whole desk or one service;
personal ones belong to the agent who wrote them and nobody else sees them. This
module holds the rules — what a valid response is, who sees and who may change
which, and the placeholders filled in when one is inserted; the HTTP edge is
chat/console_api.py. Changes to shared responses leave an audit row (docs/security.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat import audit
from chat.errors import DeskError
from chat.models import AuditEntry, CannedResponse, Chat
from ticketing.clock import Clock
from ticketing.db import iso
from ticketing.ids import is_id
from ticketing.models import Agent, AgentRole, Service

SHORTCUT = re.compile(r"[a-z0-9_-]{1,40}")
MAX_TITLE = 120
MAX_BODY = 5000
# What `{name}` in a body becomes when the response is inserted in a chat.
PLACEHOLDERS = (
    "customer_name",
    "customer_first_name",
    "customer_email",
    "agent_name",
    "agent_first_name",
    "service_name",
)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class InvalidCannedResponse(DeskError):
    code = "invalid_canned_response"
    http_status = 422


class CannedResponseNotFound(DeskError):
    code = "canned_response_not_found"
    message = "There is no such canned response."
    http_status = 404


class SharedResponsesAdminOnly(DeskError):
    code = "admin_only"
    message = "Only admins may add, change or delete shared canned responses."
    http_status = 403


class ShortcutTaken(DeskError):
    code = "shortcut_taken"
    message = "Another canned response in the same place already uses this shortcut."
    http_status = 409


# ---------------------------------------------------------------- pure rules


def fill(body: str, values: Mapping[str, str]) -> str:
    """The body with every known `{placeholder}` replaced; other braces stay as written."""
    return _PLACEHOLDER.sub(
        lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), body
    )


def placeholder_values(
    customer_name: str, customer_email: str | None, agent_name: str, service_name: str
) -> dict[str, str]:
    """Values for one chat; a missing name fills in as nothing rather than as `{…}`."""
    return {
        "customer_name": customer_name.strip(),
        "customer_first_name": _first_word(customer_name),
        "customer_email": customer_email or "",
        "agent_name": agent_name.strip(),
        "agent_first_name": _first_word(agent_name),
        "service_name": service_name,
    }


def _first_word(name: str) -> str:
    words = name.split()
    return words[0] if words else ""


@dataclass(frozen=True)
class Draft:
    """The fields a request asked to set, each already checked."""

    fields: dict[str, Any]
    shared: bool = False


def parse_draft(data: Mapping[str, Any], *, creating: bool) -> Draft:
    """Check the JSON of a create (every field) or a change (only those given)."""
    fields: dict[str, Any] = {}
    for key in ("shortcut", "title", "body"):
        if key in data:
            fields[key] = _CHECKS[key](data[key])
        elif creating:
            raise InvalidCannedResponse(f"A canned response needs a '{key}'.")
    if "service_id" in data:
        service_id = data["service_id"]
        if service_id is not None and not is_id(service_id):
            raise InvalidCannedResponse("'service_id' must be a service's id, or null for all.")
        fields["service_id"] = service_id
    shared = data.get("shared", False)
    if "shared" in data and not creating:
        raise InvalidCannedResponse("A response can't change between personal and shared.")
    if not isinstance(shared, bool):
        raise InvalidCannedResponse("'shared' must be true or false.")
    unknown = set(data) - {"shortcut", "title", "body", "service_id", "shared"}
    if unknown:
        raise InvalidCannedResponse(f"Unknown field: '{sorted(unknown)[0]}'.")
    return Draft(fields, shared)


def _shortcut(value: object) -> str:
    text = value.strip().removeprefix("/") if isinstance(value, str) else ""
    if not SHORTCUT.fullmatch(text):
        raise InvalidCannedResponse(
            "The shortcut must be 1 to 40 lowercase letters, digits, '-' or '_'."
        )
    return text


def _storable(name: str, value: str) -> None:
    """NUL and lone surrogates pass JSON but no database column (PostgreSQL refuses them)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidCannedResponse(f"The {name} is not valid text.") from None
    if "\x00" in value:
        raise InvalidCannedResponse(f"The {name} is not valid text.")


def _title(value: object) -> str:
    if isinstance(value, str):
        _storable("title", value)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_TITLE:
        raise InvalidCannedResponse(f"The title must be text of 1 to {MAX_TITLE} characters.")
    return value.strip()


def _body(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCannedResponse("The text of a canned response can't be empty.")
    _storable("text", value)
    text = value.strip()
    if len(text) > MAX_BODY:
        raise InvalidCannedResponse(f"The text may be at most {MAX_BODY} characters.")
    for name in _PLACEHOLDER.findall(text):
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise InvalidCannedResponse(f"Unknown placeholder {{{name}}}; use one of {known}.")
    return text


_CHECKS = {"shortcut": _shortcut, "title": _title, "body": _body}


# ---------------------------------------------------------------- who sees what


def _service_scope(agent: Agent, chat_service_id: int | None) -> Any:
    """SQL: the services whose responses this agent is offered (None = all services)."""
    if chat_service_id is not None:
        return or_(
            CannedResponse.service_id.is_(None), CannedResponse.service_id == chat_service_id
        )
    if agent.role is AgentRole.ADMIN:
        return True
    return or_(
        CannedResponse.service_id.is_(None),
        CannedResponse.service_id.in_([s.id for s in agent.services]),
    )


async def visible(
    session: AsyncSession, agent: Agent, chat_service_id: int | None = None
) -> list[CannedResponse]:
    """Shared ones for the agent's services (or the chat's) and for all, plus their own.

    With a chat, only what fits that chat's service is offered; without one (the
    manager), admins see every shared response so they can keep them.
    """
    rows = await session.scalars(
        select(CannedResponse)
        .where(
            or_(CannedResponse.agent_id.is_(None), CannedResponse.agent_id == agent.id),
            _service_scope(agent, chat_service_id),
        )
        .order_by(CannedResponse.shortcut, CannedResponse.agent_id.is_(None), CannedResponse.id)
    )
    return list(rows)


def view(
    row: CannedResponse, agent: Agent, values: Mapping[str, str] | None = None
) -> dict[str, Any]:
    shared = row.agent_id is None
    data: dict[str, Any] = {
        "id": row.id,
        "shortcut": row.shortcut,
        "title": row.title,
        "body": row.body,
        "service_id": row.service_id,
        "shared": shared,
        "can_edit": agent.role is AgentRole.ADMIN if shared else row.agent_id == agent.id,
        "updated_at": iso(row.updated_at),
    }
    if values is not None:
        data["text"] = fill(row.body, values)
    return data


async def values_for_chat(session: AsyncSession, chat: Chat, agent: Agent) -> dict[str, str]:
    service = await session.get(Service, chat.service_id)
    return placeholder_values(
        chat.customer_name, chat.customer_email, agent.name, service.name if service else ""
    )


# ---------------------------------------------------------------- changes


@dataclass(frozen=True)
class Actor:
    """Who changes a response, and from where (for the audit row)."""

    agent: Agent
    ip: str
    clock: Clock


async def create(session: AsyncSession, actor: Actor, draft: Draft) -> CannedResponse:
    agent = actor.agent
    if draft.shared and agent.role is not AgentRole.ADMIN:
        raise SharedResponsesAdminOnly()
    now = actor.clock.now()
    row = CannedResponse(
        shortcut=draft.fields["shortcut"],
        title=draft.fields["title"],
        body=draft.fields["body"],
        service_id=draft.fields.get("service_id"),
        agent_id=None if draft.shared else agent.id,
        created_at=now,
        updated_at=now,
    )
    await _check_service(session, row.service_id)
    await _check_shortcut_free(session, row)
    session.add(row)
    await session.flush()
    _audit(session, actor, row, {"created": True})
    return row


async def change(
    session: AsyncSession, actor: Actor, response_id: int, draft: Draft
) -> CannedResponse:
    row = await _changeable(session, actor.agent, response_id)
    for key, value in draft.fields.items():
        setattr(row, key, value)
    if "service_id" in draft.fields:
        await _check_service(session, row.service_id)
    if {"shortcut", "service_id"} & set(draft.fields):
        await _check_shortcut_free(session, row)
    row.updated_at = actor.clock.now()
    await session.flush()
    _audit(session, actor, row, {"fields": sorted(draft.fields)})
    return row


async def delete(session: AsyncSession, actor: Actor, response_id: int) -> None:
    row = await _changeable(session, actor.agent, response_id)
    _audit(session, actor, row, {"deleted": True})
    await session.delete(row)


async def _changeable(session: AsyncSession, agent: Agent, response_id: int) -> CannedResponse:
    """Own personal ones; shared ones for admins. Others' personal ones don't exist for you."""
    row = await session.get(CannedResponse, response_id)
    if row is None or (row.agent_id is not None and row.agent_id != agent.id):
        raise CannedResponseNotFound()
    if row.agent_id is None and agent.role is not AgentRole.ADMIN:
        raise SharedResponsesAdminOnly()
    return row


async def _check_service(session: AsyncSession, service_id: int | None) -> None:
    if service_id is not None and await session.get(Service, service_id) is None:
        raise InvalidCannedResponse("There is no such service.")


async def _check_shortcut_free(session: AsyncSession, row: CannedResponse) -> None:
    """One shortcut per owner (or per shared scope), so the picker never shows twins."""
    same_owner = (
        CannedResponse.agent_id.is_(None)
        if row.agent_id is None
        else CannedResponse.agent_id == row.agent_id
    )
    same_scope = (
        CannedResponse.service_id.is_(None)
        if row.service_id is None
        else CannedResponse.service_id == row.service_id
    )
    clash = await session.scalar(
        select(CannedResponse.id).where(
            and_(same_owner, same_scope, CannedResponse.shortcut == row.shortcut),
            CannedResponse.id != (row.id or 0),
        )
    )
    if clash is not None:
        raise ShortcutTaken(f"The shortcut /{row.shortcut} is already in use there.")


def _audit(
    session: AsyncSession, actor: Actor, row: CannedResponse, details: dict[str, Any]
) -> None:
    """Shared responses are desk settings: their changes are traced like the others."""
    if row.agent_id is not None:
        return
    entry: AuditEntry = audit.entry(
        audit.SETTINGS_CHANGED,
        actor.clock,
        actor_type="agent",
        actor_id=actor.agent.id,
        actor_name=actor.agent.email,
        ip=actor.ip,
        target=f"canned_response:{row.id}",
        details={**details, "shortcut": row.shortcut, "service_id": row.service_id},
    )
    audit.add(session, entry)
