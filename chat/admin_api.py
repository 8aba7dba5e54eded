"""`/api/admin/…`: admins edit services (with their business hours) and agents.

Changes that can free or create capacity (an agent's capacity or services, a
service's hours) wake routing and refresh every widget's view of the desk at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat import audit
from chat.auth import new_api_token
from chat.errors import DeskError
from chat.http_api import current_agent, read_json, runtime_of
from chat.lifecycle import Outbox
from chat.models import ApiToken, AuditEntry
from chat.ws_console import agent_view
from ticketing.business_hours import Schedule, ScheduleError
from ticketing.db import iso, transaction
from ticketing.errors import NotFound
from ticketing.ids import is_id
from ticketing.models import (
    Agent,
    AgentRole,
    Category,
    Customer,
    Organization,
    OrganizationContact,
    Service,
)
from ticketing.policy import DEFAULT_POLICY, InactivityPolicy, PolicyError
from ticketing.service import clean_emails, designated_contacts
from ticketing.sla import DEFAULT_TARGETS, SlaConfigError, SlaTargets

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
        "sla_targets": service.sla_targets or DEFAULT_TARGETS.to_dict(),
        "inactivity_policy": service.inactivity_policy or DEFAULT_POLICY.to_dict(),
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
        if not is_id(abs(data["position"]) if isinstance(data["position"], int) else None):
            raise InvalidSetting("'position' must be a whole number.")
        service.position = data["position"]
    if "schedule" in data:
        try:
            service.schedule = Schedule.from_dict(data["schedule"]).to_dict()
        except (ScheduleError, TypeError, AttributeError) as exc:
            raise InvalidSetting(f"Invalid business hours: {exc}") from None
    if "sla_targets" in data:
        try:
            service.sla_targets = (
                None
                if data["sla_targets"] is None
                else SlaTargets.from_dict(data["sla_targets"]).to_dict()
            )
        except (SlaConfigError, TypeError, AttributeError) as exc:
            raise InvalidSetting(f"Invalid SLA targets: {exc}") from None
    if "inactivity_policy" in data:
        try:
            service.inactivity_policy = (
                None
                if data["inactivity_policy"] is None
                else InactivityPolicy.from_dict(data["inactivity_policy"]).to_dict()
            )
        except (PolicyError, TypeError) as exc:
            raise InvalidSetting(f"Invalid inactivity policy: {exc}") from None


def _desk_changed(request: Request) -> None:
    runtime_of(request).service.publish(Outbox(route=True, desk_changed=True))


def _audit(
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
    await _admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(Service).order_by(Service.position, Service.id))
        return JSONResponse({"items": [service_view(s) for s in rows]})


async def create_service(request: Request) -> Response:
    admin = await _admin(request)
    data = await read_json(request)
    if "name" not in data or "schedule" not in data:
        raise InvalidSetting("A service needs a 'name' and a 'schedule'.")
    async with transaction(runtime_of(request).sessions) as session:
        name = _text(data, "name", 120)  # validated before it reaches a query
        if await session.scalar(select(Service.id).where(Service.name == name)):
            raise InvalidSetting("A service with this name exists already.")
        service = Service(description="", active=True, position=0)
        _apply_service(service, data)
        session.add(service)
        await session.flush()
        _audit(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"service:{service.id}",
            {"created": True, "fields": sorted(data)},
        )
        view = service_view(service)
    _desk_changed(request)
    return JSONResponse(view, status_code=201)


async def update_service(request: Request) -> Response:
    admin = await _admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        service = await session.get(Service, request.path_params["service_id"])
        if service is None:
            raise NotFound("There is no such service.")
        _apply_service(service, data)
        _audit(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"service:{service.id}",
            {"fields": sorted(data)},
        )
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
        _audit(
            session,
            request,
            admin,
            audit.AGENT_CHANGED,
            f"agent:{agent.id}",
            {k: data[k] for k in ("capacity", "role", "active", "services", "name") if k in data},
        )
        if "services" in data:
            ids = data["services"]
            if not isinstance(ids, list) or not all(is_id(i) for i in ids):
                raise InvalidSetting("'services' must be a list of service ids.")
            services = list(await session.scalars(select(Service).where(Service.id.in_(ids))))
            if len(services) != len(set(ids)):
                raise InvalidSetting("'services' names a service that does not exist.")
            agent.services = services
        await session.flush()
        view = agent_view(agent) | {"active": agent.active}
    _desk_changed(request)
    return JSONResponse(view)


async def create_category(request: Request) -> Response:
    await _admin(request)
    data = await read_json(request)
    name = _text(data, "name", 120) if "name" in data else None
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
        return JSONResponse(
            {"id": category.id, "name": name, "service_id": service.id}, status_code=201
        )


async def update_category(request: Request) -> Response:
    await _admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        category = await session.get(Category, request.path_params["category_id"])
        if category is None:
            raise NotFound("There is no such category.")
        if "name" in data:
            category.name = _text(data, "name", 120)
        if "active" in data:
            if not isinstance(data["active"], bool):
                raise InvalidSetting("'active' must be true or false.")
            category.active = data["active"]
        await session.flush()
        return JSONResponse(
            {
                "id": category.id,
                "name": category.name,
                "service_id": category.service_id,
                "active": category.active,
            }
        )


def organization_view(org: Organization, contacts: list[Customer]) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "domain": org.domain,
        "requires_approval": org.requires_approval,
        "contacts": [{"id": c.id, "name": c.name, "email": c.email} for c in contacts],
    }


async def list_organizations(request: Request) -> Response:
    await _admin(request)
    async with runtime_of(request).sessions() as session:
        orgs = list(await session.scalars(select(Organization).order_by(Organization.name)))
        items = [organization_view(o, await designated_contacts(session, o.id)) for o in orgs]
    return JSONResponse({"items": items})


async def save_organization(request: Request) -> Response:
    """Create (POST) or change (PATCH) an organization and its designated contacts.

    Contacts are given by email; unknown emails become customers, so a desk can name
    its contacts before they ever write in.
    """
    admin = await _admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        if request.method == "POST":
            org = Organization(requires_approval=False)
            if "name" not in data or "domain" not in data:
                raise InvalidSetting("An organization needs a 'name' and a 'domain'.")
        else:
            found = await session.get(Organization, request.path_params["organization_id"])
            if found is None:
                raise NotFound("There is no such organization.")
            org = found
        if "name" in data:
            org.name = _text(data, "name", 120)
        if "domain" in data:
            domain = _text(data, "domain", 253).lower().lstrip("@")
            if "." not in domain or " " in domain or "@" in domain:
                raise InvalidSetting("'domain' must be an email domain such as example.com.")
            taken = await session.scalar(
                select(Organization.id).where(
                    Organization.domain == domain, Organization.id != org.id
                )
            )
            if taken is not None:
                raise InvalidSetting("Another organization has this domain.")
            org.domain = domain
        if "requires_approval" in data:
            if not isinstance(data["requires_approval"], bool):
                raise InvalidSetting("'requires_approval' must be true or false.")
            org.requires_approval = data["requires_approval"]
        session.add(org)  # only now: queries above must not flush a half-made row
        await session.flush()
        if "contacts" in data:
            emails = clean_emails(data["contacts"], limit=50)
            await session.execute(
                delete(OrganizationContact).where(OrganizationContact.organization_id == org.id)
            )
            for email in emails:
                customer = await session.scalar(select(Customer).where(Customer.email == email))
                if customer is None:
                    customer = Customer(name=email.split("@")[0], email=email)
                    session.add(customer)
                    await session.flush()
                session.add(OrganizationContact(organization_id=org.id, customer_id=customer.id))
        try:
            await session.flush()
        except IntegrityError:
            raise InvalidSetting("Another organization has this domain.") from None
        _audit(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"organization:{org.id}",
            {"fields": sorted(data)},
        )
        view = organization_view(org, await designated_contacts(session, org.id))
    return JSONResponse(view, status_code=201 if request.method == "POST" else 200)


async def list_audit(request: Request) -> Response:
    await _admin(request)
    action = request.query_params.get("action")
    async with runtime_of(request).sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200)
        if action:
            query = query.where(AuditEntry.action == action[:40])
        rows = await session.scalars(query)
        items = [
            {
                "id": r.id,
                "at": iso(r.at),
                "action": r.action,
                "actor_type": r.actor_type,
                "actor_id": r.actor_id,
                "actor_name": r.actor_name,
                "ip": r.ip,
                "target": r.target,
                "details": r.details,
            }
            for r in rows
        ]
    return JSONResponse({"items": items})


def token_view(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "agent_id": row.agent_id,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "revoked_at": iso(row.revoked_at),
    }


async def list_tokens(request: Request) -> Response:
    await _admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(ApiToken).order_by(ApiToken.id))
        return JSONResponse({"items": [token_view(r) for r in rows]})


async def create_token(request: Request) -> Response:
    """A token for an integration, acting as this admin; shown once, stored as a hash."""
    admin = await _admin(request)
    data = await read_json(request)
    name = _text(data, "name", 120) if "name" in data else None
    if name is None:
        raise InvalidSetting("A token needs a 'name' (what it is for).")
    token, digest, prefix = new_api_token()
    runtime = runtime_of(request)
    async with transaction(runtime.sessions) as session:
        row = ApiToken(
            agent_id=admin.id,
            name=name,
            token_hash=digest,
            prefix=prefix,
            created_at=runtime.clock.now(),
        )
        session.add(row)
        await session.flush()
        _audit(
            session,
            request,
            admin,
            audit.TOKEN_CREATED,
            f"token:{row.id}",
            {"name": name, "prefix": prefix},
        )
        view = token_view(row)
    return JSONResponse({**view, "token": token}, status_code=201)


async def revoke_token(request: Request) -> Response:
    admin = await _admin(request)
    runtime = runtime_of(request)
    async with transaction(runtime.sessions) as session:
        row = await session.get(ApiToken, request.path_params["token_id"])
        if row is None:
            raise NotFound("There is no such token.")
        if row.revoked_at is None:
            row.revoked_at = runtime.clock.now()
            _audit(
                session,
                request,
                admin,
                audit.TOKEN_REVOKED,
                f"token:{row.id}",
                {"prefix": row.prefix},
            )
        view = token_view(row)
    return JSONResponse(view)


routes = [
    Route("/api/admin/services", list_services),
    Route("/api/admin/services", create_service, methods=["POST"]),
    Route("/api/admin/services/{service_id:id}", update_service, methods=["PATCH"]),
    Route("/api/admin/services/{service_id:id}/categories", create_category, methods=["POST"]),
    Route("/api/admin/categories/{category_id:id}", update_category, methods=["PATCH"]),
    Route("/api/admin/organizations", list_organizations),
    Route("/api/admin/organizations", save_organization, methods=["POST"]),
    Route("/api/admin/organizations/{organization_id:id}", save_organization, methods=["PATCH"]),
    Route("/api/admin/agents", list_agents),
    Route("/api/admin/audit", list_audit),
    Route("/api/admin/tokens", list_tokens),
    Route("/api/admin/tokens", create_token, methods=["POST"]),
    Route("/api/admin/tokens/{token_id:id}", revoke_token, methods=["DELETE"]),
    Route("/api/admin/agents/{agent_id:id}", update_agent, methods=["PATCH"]),
]
