"""`/api/admin/…`: admins edit services (with their business hours) and agents.

Changes that can free or create capacity (an agent's capacity or services, a
service's hours) wake routing and refresh every widget's view of the desk at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat.errors import DeskError
from chat.http_api import current_agent, read_json, runtime_of
from chat.lifecycle import Outbox
from chat.ws_console import agent_view
from ticketing.business_hours import Schedule, ScheduleError
from ticketing.db import transaction
from ticketing.errors import NotFound
from ticketing.models import Agent, AgentRole, Service

MAX_CAPACITY = 50


class AdminOnly(DeskError):
    code = "admin_only"
    message = "Only admins may change the desk's settings."
    http_status = 403


class InvalidSetting(DeskError):
    code = "invalid_setting"
    http_status = 422


async def _admin(request: Request) -> Agent:
    logged_in = await current_agent(request, state_changing=request.method != "GET")
    if logged_in.agent.role is not AgentRole.ADMIN:
        raise AdminOnly()
    return logged_in.agent


def service_view(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "name": service.name,
        "description": service.description,
        "active": service.active,
        "position": service.position,
        "schedule": service.schedule,
    }


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidSetting(f"'{key}' must be non-empty text of at most {limit} characters.")
    return value.strip()


def _apply_service(service: Service, data: dict[str, Any]) -> None:
    if "name" in data:
        service.name = _text(data, "name", 120)
    if "description" in data:
        if not isinstance(data["description"], str) or len(data["description"]) > 2000:
            raise InvalidSetting("'description' must be text of at most 2000 characters.")
        service.description = data["description"]
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise InvalidSetting("'active' must be true or false.")
        service.active = data["active"]
    if "position" in data:
        if isinstance(data["position"], bool) or not isinstance(data["position"], int):
            raise InvalidSetting("'position' must be a whole number.")
        service.position = data["position"]
    if "schedule" in data:
        try:
            service.schedule = Schedule.from_dict(data["schedule"]).to_dict()
        except (ScheduleError, TypeError, AttributeError) as exc:
            raise InvalidSetting(f"Invalid business hours: {exc}") from None


def _desk_changed(request: Request) -> None:
    runtime_of(request).service.publish(Outbox(route=True, desk_changed=True))


async def list_services(request: Request) -> Response:
    await _admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(Service).order_by(Service.position, Service.id))
        return JSONResponse({"items": [service_view(s) for s in rows]})


async def create_service(request: Request) -> Response:
    await _admin(request)
    data = await read_json(request)
    if "name" not in data or "schedule" not in data:
        raise InvalidSetting("A service needs a 'name' and a 'schedule'.")
    async with transaction(runtime_of(request).sessions) as session:
        if await session.scalar(select(Service.id).where(Service.name == data["name"])):
            raise InvalidSetting("A service with this name exists already.")
        service = Service(description="", active=True, position=0)
        _apply_service(service, data)
        session.add(service)
        await session.flush()
        view = service_view(service)
    _desk_changed(request)
    return JSONResponse(view, status_code=201)


async def update_service(request: Request) -> Response:
    await _admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        service = await session.get(Service, request.path_params["service_id"])
        if service is None:
            raise NotFound("There is no such service.")
        _apply_service(service, data)
        await session.flush()
        view = service_view(service)
    _desk_changed(request)
    return JSONResponse(view)


async def list_agents(request: Request) -> Response:
    await _admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(Agent).order_by(Agent.id))
        return JSONResponse({"items": [agent_view(a) | {"active": a.active} for a in rows]})


async def update_agent(request: Request) -> Response:
    """Capacity, role, services, name, active. Raising capacity offers waiting chats at once."""
    admin = await _admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        agent = await session.get(Agent, request.path_params["agent_id"])
        if agent is None:
            raise NotFound("There is no such agent.")
        if "capacity" in data:
            capacity = data["capacity"]
            if (
                isinstance(capacity, bool)
                or not isinstance(capacity, int)
                or not (0 <= capacity <= MAX_CAPACITY)
            ):
                raise InvalidSetting(f"'capacity' must be a whole number from 0 to {MAX_CAPACITY}.")
            agent.capacity = capacity
        if "name" in data:
            agent.name = _text(data, "name", 120)
        if "role" in data:
            if data["role"] not in ("agent", "admin"):
                raise InvalidSetting("'role' must be 'agent' or 'admin'.")
            if agent.id == admin.id and data["role"] != "admin":
                raise InvalidSetting("You cannot take away your own admin role.")
            agent.role = AgentRole(data["role"])
        if "active" in data:
            if not isinstance(data["active"], bool):
                raise InvalidSetting("'active' must be true or false.")
            agent.active = data["active"]
        if "services" in data:
            ids = data["services"]
            if not isinstance(ids, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in ids
            ):
                raise InvalidSetting("'services' must be a list of service ids.")
            services = list(await session.scalars(select(Service).where(Service.id.in_(ids))))
            if len(services) != len(set(ids)):
                raise InvalidSetting("'services' names a service that does not exist.")
            agent.services = services
        await session.flush()
        view = agent_view(agent) | {"active": agent.active}
    _desk_changed(request)
    return JSONResponse(view)


routes = [
    Route("/api/admin/services", list_services),
    Route("/api/admin/services", create_service, methods=["POST"]),
    Route("/api/admin/services/{service_id:int}", update_service, methods=["PATCH"]),
    Route("/api/admin/agents", list_agents),
    Route("/api/admin/agents/{agent_id:int}", update_agent, methods=["PATCH"]),
]
