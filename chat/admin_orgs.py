"""`/api/admin/organizations`: customers' companies and their designated contacts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat import audit
from chat.admin_api import (
    InvalidSetting,
    audit_change,
    flag_setting,
    require_admin,
    text_setting,
)
from chat.http_api import read_json, runtime_of
from ticketing.db import transaction
from ticketing.errors import NotFound
from ticketing.models import (
    Customer,
    Organization,
    OrganizationContact,
)
from ticketing.service import clean_emails, designated_contacts


def organization_view(org: Organization, contacts: list[Customer]) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "domain": org.domain,
        "requires_approval": org.requires_approval,
        "contacts": [{"id": c.id, "name": c.name, "email": c.email} for c in contacts],
    }


async def list_organizations(request: Request) -> Response:
    await require_admin(request)
    async with runtime_of(request).sessions() as session:
        orgs = list(await session.scalars(select(Organization).order_by(Organization.name)))
        items = [organization_view(o, await designated_contacts(session, o.id)) for o in orgs]
    return JSONResponse({"items": items})


async def save_organization(request: Request) -> Response:
    """Create (POST) or change (PATCH) an organization and its designated contacts.

    Contacts are given by email; unknown emails become customers, so a desk can name
    its contacts before they ever write in.
    """
    admin = await require_admin(request)
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
            org.name = text_setting(data, "name", 120)
        if "domain" in data:
            domain = text_setting(data, "domain", 253).lower().lstrip("@")
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
            org.requires_approval = flag_setting(data, "requires_approval")
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
        audit_change(
            session,
            request,
            admin,
            audit.SETTINGS_CHANGED,
            f"organization:{org.id}",
            {"fields": sorted(data)},
        )
        view = organization_view(org, await designated_contacts(session, org.id))
    return JSONResponse(view, status_code=201 if request.method == "POST" else 200)


routes = [
    Route("/api/admin/organizations", list_organizations),
    Route("/api/admin/organizations", save_organization, methods=["POST"]),
    Route("/api/admin/organizations/{organization_id:id}", save_organization, methods=["PATCH"]),
]
