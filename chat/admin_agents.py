"""`/api/admin/agents`: admins add colleagues and set their role, services and capacity.

A change that frees or adds capacity wakes routing at once; deactivating an agent
ends their sessions and closes their consoles.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat import audit
from chat.admin_api import (
    InvalidSetting,
    audit_change,
    desk_changed,
    flag_setting,
    require_admin,
    text_setting,
)
from chat.auth import hash_password
from chat.errors import DeskError
from chat.http_api import read_json, runtime_of
from chat.models import AgentSession
from chat.ws_console import agent_view
from ticketing.db import transaction
from ticketing.errors import NotFound
from ticketing.ids import is_id
from ticketing.models import (
    Agent,
    AgentRole,
    Service,
)
from ticketing.service import clean_emails

MAX_CAPACITY = 50

# The same floor as `chatdesk agent` (chat/cli.py); login refuses longer than 1024.
MIN_PASSWORD_CHARS = 8

MAX_PASSWORD_CHARS = 1024


async def list_agents(request: Request) -> Response:
    await require_admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(Agent).order_by(Agent.id))
        return JSONResponse({"items": [agent_view(a) | {"active": a.active} for a in rows]})


def _services_of(data: dict[str, Any]) -> list[int]:
    ids = data["services"]
    if not isinstance(ids, list) or not all(is_id(i) for i in ids):
        raise InvalidSetting("'services' must be a list of service ids.")
    return list(ids)


async def _load_services(session: AsyncSession, ids: list[int]) -> list[Service]:
    """Every service named, or a 422: an agent never silently loses one it was given."""
    services = list(await session.scalars(select(Service).where(Service.id.in_(ids))))
    if len(services) != len(set(ids)):
        raise InvalidSetting("'services' names a service that does not exist.")
    return services


def _capacity(value: object) -> int:
    """How many chats at once; `True` is an int to Python but no capacity to an admin."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
        raise InvalidSetting(f"'capacity' must be a whole number from 0 to {MAX_CAPACITY}.")
    return value


async def create_agent(request: Request) -> Response:
    """A new colleague signs in with the password the admin gave them (argon2-hashed)."""
    admin = await require_admin(request)
    data = await read_json(request)
    if not all(k in data for k in ("email", "name", "password")):
        raise InvalidSetting("A new agent needs an 'email', a 'name' and a 'password'.")
    try:
        (email,) = clean_emails([data["email"]], limit=1)
    except DeskError:
        raise InvalidSetting("'email' must be an email address.") from None
    name = text_setting(data, "name", 120)
    password = data["password"]
    if not isinstance(password, str) or not (
        MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS
    ):
        raise InvalidSetting(f"The password must have at least {MIN_PASSWORD_CHARS} characters.")
    role = data.get("role", "agent")
    if role not in ("agent", "admin"):
        raise InvalidSetting("'role' must be 'agent' or 'admin'.")
    capacity = _capacity(data.get("capacity", 3))
    ids = _services_of(data) if "services" in data else []
    async with transaction(runtime_of(request).sessions) as session:
        if await session.scalar(select(Agent.id).where(Agent.email == email)):
            raise InvalidSetting("An agent with this email exists already.")
        services = await _load_services(session, ids)
        agent = Agent(
            email=email,
            name=name,
            password_hash=await hash_password(password),
            role=AgentRole(role),
            capacity=capacity,
            services=services,
        )
        session.add(agent)
        await session.flush()
        audit_change(
            session,
            request,
            admin,
            audit.AGENT_CHANGED,
            f"agent:{agent.id}",
            {"created": True, "email": email, "role": role, "services": sorted(ids)},
        )
        view = agent_view(agent) | {"active": agent.active}
    desk_changed(request)
    return JSONResponse(view, status_code=201)


async def update_agent(request: Request) -> Response:
    """Capacity, role, services, name, active. Raising capacity offers waiting chats at once."""
    admin = await require_admin(request)
    data = await read_json(request)
    ended_sessions: list[str] = []
    async with transaction(runtime_of(request).sessions) as session:
        agent = await session.get(Agent, request.path_params["agent_id"])
        if agent is None:
            raise NotFound("There is no such agent.")
        if "capacity" in data:
            agent.capacity = _capacity(data["capacity"])
        if "name" in data:
            agent.name = text_setting(data, "name", 120)
        if "role" in data:
            if data["role"] not in ("agent", "admin"):
                raise InvalidSetting("'role' must be 'agent' or 'admin'.")
            if agent.id == admin.id and data["role"] != "admin":
                raise InvalidSetting("You cannot take away your own admin role.")
            agent.role = AgentRole(data["role"])
        if "active" in data:
            agent.active = flag_setting(data, "active")
            if not agent.active:  # signed out everywhere at once (docs/security.md)
                gone = select(AgentSession.token_hash).where(AgentSession.agent_id == agent.id)
                ended_sessions = list(await session.scalars(gone))
                await session.execute(delete(AgentSession).where(AgentSession.agent_id == agent.id))
        audit_change(
            session,
            request,
            admin,
            audit.AGENT_CHANGED,
            f"agent:{agent.id}",
            {k: data[k] for k in ("capacity", "role", "active", "services", "name") if k in data},
        )
        if "services" in data:
            agent.services = await _load_services(session, _services_of(data))
        await session.flush()
        view = agent_view(agent) | {"active": agent.active}
    for token_hash in ended_sessions:  # their open consoles close (4401), on every process
        runtime_of(request).bus.publish(
            f"agent:{view['id']}", {"type": "logout", "session": token_hash}
        )
    if "services" in data:  # their open consoles see the new services' queue, on every process
        runtime_of(request).bus.publish(
            f"agent:{view['id']}",
            {"type": "services_changed", "service_ids": sorted(set(_services_of(data)))},
        )
    desk_changed(request)
    return JSONResponse(view)


routes = [
    Route("/api/admin/agents", list_agents),
    Route("/api/admin/agents", create_agent, methods=["POST"]),
    Route("/api/admin/agents/{agent_id:id}", update_agent, methods=["PATCH"]),
]
