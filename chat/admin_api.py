"""`/api/admin/…`: what every admin route shares, and services with their categories.

Agents, organizations, tokens and the audit log have their own modules
(`admin_agents`, `admin_orgs`, `admin_tokens`, `admin_audit`).

Changes that can free or create capacity (an agent's capacity or services, a
service's hours) wake routing and refresh every widget's view of the desk at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat import audit
from chat.errors import DeskError
from chat.http_api import current_agent, read_json, runtime_of
from chat.lifecycle import Outbox
from chat.prechat import PrechatConfigError, PrechatFields
from ticketing.business_hours import Schedule, ScheduleError
from ticketing.db import transaction
from ticketing.errors import NotFound
from ticketing.ids import is_id
from ticketing.models import (
    Agent,
    AgentRole,
    Category,
    Service,
)
from ticketing.policy import DEFAULT_POLICY, InactivityPolicy, PolicyError
from ticketing.sla import DEFAULT_TARGETS, SlaConfigError, SlaTargets


class AdminOnly(DeskError):
    code = "admin_only"
    message = "Only admins may change the desk's settings."
    http_status = 403


class InvalidSetting(DeskError):
    code = "invalid_setting"
    http_status = 422


async def require_admin(request: Request) -> Agent:
    logged_in = await current_agent(request, state_changing=request.method != "GET")
    if logged_in.agent.role is not AgentRole.ADMIN:
        raise AdminOnly()
    return logged_in.agent


def category_view(category: Category) -> dict[str, Any]:
    return {
        "id": category.id,
        "name": category.name,
        "service_id": category.service_id,
        "active": category.active,
    }


def service_view(service: Service, categories: list[Category] | None = None) -> dict[str, Any]:
    """A service as the Admin tab edits it; `categories` only where the caller loaded them."""
    view: dict[str, Any] = {
        "id": service.id,
        "name": service.name,
        "description": service.description,
        "active": service.active,
        "position": service.position,
        "schedule": service.schedule,
        "sla_targets": service.sla_targets or DEFAULT_TARGETS.to_dict(),
        "inactivity_policy": service.inactivity_policy or DEFAULT_POLICY.to_dict(),
        "prechat_fields": PrechatFields.from_dict(service.prechat_fields).to_dict(),
    }
    if categories is not None:
        view["categories"] = [category_view(c) for c in categories]
    return view


def text_setting(data: dict[str, Any], key: str, limit: int) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidSetting(f"'{key}' must be non-empty text of at most {limit} characters.")
    return value.strip()


def flag_setting(data: dict[str, Any], key: str) -> bool:
    """A JSON true/false: 0, 1 or "yes" are refused rather than guessed."""
    if not isinstance(data[key], bool):
        raise InvalidSetting(f"'{key}' must be true or false.")
    return data[key]


class _Config(Protocol):
    """A setting's own class (`Schedule`, `SlaTargets`, …), which checks what an admin sent."""

    def to_dict(self) -> dict[str, Any]: ...


def config_setting(
    value: Any,
    parse: Callable[[Any], _Config],
    what: str,
    errors: tuple[type[Exception], ...],
) -> dict[str, Any]:
    """`value` stored as its class writes it back, so the database never holds a setting the
    desk cannot read; whatever the class refuses is a 422 that names the setting."""
    try:
        return parse(value).to_dict()
    except errors as exc:
        raise InvalidSetting(f"Invalid {what}: {exc}") from None


def optional_config_setting(
    value: Any,
    parse: Callable[[Any], _Config],
    what: str,
    errors: tuple[type[Exception], ...],
) -> dict[str, Any] | None:
    """The same, where `null` stores nothing of the service's own: the desk's default applies."""
    return None if value is None else config_setting(value, parse, what, errors)


def _apply_service(service: Service, data: dict[str, Any]) -> None:
    if "name" in data:
        service.name = text_setting(data, "name", 120)
    if "description" in data:
        if not isinstance(data["description"], str) or len(data["description"]) > 2000:
            raise InvalidSetting("'description' must be text of at most 2000 characters.")
        service.description = data["description"]
    if "active" in data:
        service.active = flag_setting(data, "active")
    if "position" in data:
        if not is_id(abs(data["position"]) if isinstance(data["position"], int) else None):
            raise InvalidSetting("'position' must be a whole number.")
        service.position = data["position"]
    if "schedule" in data:
        service.schedule = config_setting(
            data["schedule"],
            Schedule.from_dict,
            "business hours",
            (ScheduleError, TypeError, AttributeError),
        )
    if "sla_targets" in data:
        service.sla_targets = optional_config_setting(
            data["sla_targets"],
            SlaTargets.from_dict,
            "SLA targets",
            (SlaConfigError, TypeError, AttributeError),
        )
    if "inactivity_policy" in data:
        service.inactivity_policy = optional_config_setting(
            data["inactivity_policy"],
            InactivityPolicy.from_dict,
            "inactivity policy",
            (PolicyError, TypeError),
        )
    if "prechat_fields" in data:
        service.prechat_fields = optional_config_setting(
            data["prechat_fields"],
            PrechatFields.from_dict,
            "pre-chat form fields",
            (PrechatConfigError,),
        )


def desk_changed(request: Request) -> None:
    runtime_of(request).service.publish(Outbox(route=True, desk_changed=True))


def audit_change(
    session: AsyncSession,
    request: Request,
    admin: Agent,
    action: str,
    target: str,
    details: dict[str, Any],
) -> None:
    """The change and its trace commit together."""
    audit.add(
        session,
        audit.entry(
            action,
            runtime_of(request).clock,
            actor_type="agent",
            actor_id=admin.id,
            actor_name=admin.email,
            ip=request.client.host if request.client else "",
            target=target,
            details=details,
        ),
    )


async def list_services(request: Request) -> Response:
    await require_admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(Service).order_by(Service.position, Service.id))
        categories: dict[int, list[Category]] = {}
        for category in await session.scalars(select(Category).order_by(Category.name)):
            categories.setdefault(category.service_id, []).append(category)
        items = [service_view(s, categories.get(s.id, [])) for s in rows]
        return JSONResponse({"items": items})


async def create_service(request: Request) -> Response:
    admin = await require_admin(request)
    data = await read_json(request)
    if "name" not in data or "schedule" not in data:
        raise InvalidSetting("A service needs a 'name' and a 'schedule'.")
    async with transaction(runtime_of(request).sessions) as session:
        name = text_setting(data, "name", 120)  # validated before it reaches a query
        if await session.scalar(select(Service.id).where(Service.name == name)):
            raise InvalidSetting("A service with this name exists already.")
        service = Service(description="", active=True, position=0)
        _apply_service(service, data)
        session.add(service)
        await session.flush()
        audit_change(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"service:{service.id}",
            {"created": True, "fields": sorted(data)},
        )
        view = service_view(service)
    desk_changed(request)
    return JSONResponse(view, status_code=201)


async def update_service(request: Request) -> Response:
    admin = await require_admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        service = await session.get(Service, request.path_params["service_id"])
        if service is None:
            raise NotFound("There is no such service.")
        if "name" in data and await session.scalar(
            select(Service.id).where(
                Service.name == text_setting(data, "name", 120), Service.id != service.id
            )
        ):
            raise InvalidSetting("A service with this name exists already.")
        _apply_service(service, data)
        audit_change(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"service:{service.id}",
            {"fields": sorted(data)},
        )
        await session.flush()
        view = service_view(service)
    desk_changed(request)
    return JSONResponse(view)


async def create_category(request: Request) -> Response:
    admin = await require_admin(request)
    data = await read_json(request)
    name = text_setting(data, "name", 120) if "name" in data else None
    if name is None:
        raise InvalidSetting("A category needs a 'name'.")
    async with transaction(runtime_of(request).sessions) as session:
        service = await session.get(Service, request.path_params["service_id"])
        if service is None:
            raise NotFound("There is no such service.")
        if await session.scalar(
            select(Category.id).where(Category.service_id == service.id, Category.name == name)
        ):
            raise InvalidSetting("This service has a category with that name already.")
        category = Category(service_id=service.id, name=name, active=True)
        session.add(category)
        await session.flush()
        audit_change(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"category:{category.id}",
            {"created": True, "service_id": service.id, "name": name},
        )
        view = category_view(category)
    return JSONResponse(view, status_code=201)


async def update_category(request: Request) -> Response:
    admin = await require_admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        category = await session.get(Category, request.path_params["category_id"])
        if category is None:
            raise NotFound("There is no such category.")
        if "name" in data:
            name = text_setting(data, "name", 120)
            if await session.scalar(
                select(Category.id).where(
                    Category.service_id == category.service_id,
                    Category.name == name,
                    Category.id != category.id,
                )
            ):
                raise InvalidSetting("This service has a category with that name already.")
            category.name = name
        if "active" in data:
            category.active = flag_setting(data, "active")
        audit_change(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"category:{category.id}",
            {k: data[k] for k in ("name", "active") if k in data},
        )
        await session.flush()
        view = category_view(category)
    return JSONResponse(view)


routes = [
    Route("/api/admin/services", list_services),
    Route("/api/admin/services", create_service, methods=["POST"]),
    Route("/api/admin/services/{service_id:id}", update_service, methods=["PATCH"]),
    Route("/api/admin/services/{service_id:id}/categories", create_category, methods=["POST"]),
    Route("/api/admin/categories/{category_id:id}", update_category, methods=["PATCH"]),
]
