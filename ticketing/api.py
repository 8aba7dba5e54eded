"""`/api/tickets…`: the agents' ticket work over JSON — list, search, read, change, reply.

Endpoints stay thin: parse, call the service layer, render through `tickets.py`.
Authentication is injected (`TicketingContext.authenticate_agent`), so ticketing
never imports chat; every error is a `DeskError` rendered as `{code, message}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from ticketing import attachments as files
from ticketing import tickets as views
from ticketing.access import Principal
from ticketing.clock import Clock
from ticketing.db import transaction
from ticketing.errors import DeskError, NotFound
from ticketing.ids import is_id
from ticketing.models import (
    Attachment,
    AuthorType,
    Category,
    Customer,
    Priority,
    RequestType,
    Service,
    Ticket,
    TicketMessage,
    TicketOrigin,
    TicketStatus,
)
from ticketing.service import InvalidTicket, Who, compute_sla, locked_ticket, tickets
from ticketing.status import Actor, CloseReason

MAX_JSON_BYTES = 256 * 1024
MAX_BULK = 200

Authenticate = Callable[[Request, bool], Awaitable[Principal]]


@dataclass(frozen=True)
class TicketingContext:
    sessions: async_sessionmaker[AsyncSession]
    # Reads that may scan a table, the ticket search (chat.runtime.Runtime.scans).
    scans: async_sessionmaker[AsyncSession]
    clock: Clock
    authenticate_agent: Authenticate
    authenticate_customer: Authenticate


class BadRequest(DeskError):
    code = "bad_request"
    http_status = 400


class BadJsonBody(DeskError):
    code = "bad_json"
    message = "The request body must be a JSON object."
    http_status = 400


class BodyTooLarge(DeskError):
    code = "body_too_large"
    message = "The request body is too large."
    http_status = 413


def context(request: Request) -> TicketingContext:
    return request.app.state.ticketing  # type: ignore[no-any-return]


async def json_body(request: Request, max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """The request's JSON object; the one parser of every JSON route (same errors everywhere)."""
    body = await request.body()
    if len(body) > max_bytes:
        raise BodyTooLarge()
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BadJsonBody() from None
    if not isinstance(data, dict):
        raise BadJsonBody()
    return data


def query_int(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise BadRequest(f"'{name}' must be a positive whole number.")
    return int(raw)


def enum_value(kind: type, value: object, name: str) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)  # type: ignore[attr-defined]
        raise BadRequest(f"'{name}' must be one of {allowed}.") from None


def who_of(principal: Principal) -> Who:
    return Who(Actor.AGENT if principal.is_agent else Actor.CUSTOMER, principal.id, principal.name)


async def detail_response(
    session: AsyncSession,
    ticket: Ticket,
    principal: Principal,
    ctx: TicketingContext,
    status_code: int = 200,
) -> Response:
    # A ticket created or changed in this session may not have its relations loaded.
    await session.refresh(ticket, ["service", "requester", "agent"])
    sla = None
    if principal.is_agent:
        state = await compute_sla(session, ticket, ctx.clock.now())
        sla = {
            "pickup": views.clock_view(state.pickup),
            "resolution": views.clock_view(state.resolution),
        }
    detail = await views.ticket_detail(session, ticket, principal, sla)
    return JSONResponse(detail, status_code=status_code)


# ----------------------------------------------------------------- agents
async def list_tickets(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.authenticate_agent(request, False)
    params = request.query_params
    breached = params.get("breached")
    if breached not in (None, "", "true", "false"):
        raise BadRequest("'breached' must be true or false.")
    async with ctx.scans() as session:
        page = await views.search_tickets(
            session,
            principal,
            page=query_int(request, "page", 1) or 1,
            per_page=query_int(request, "per_page", 25) or 25,
            status=enum_value(TicketStatus, params.get("status") or None, "status"),
            service_id=query_int(request, "service_id"),
            priority=enum_value(Priority, params.get("priority") or None, "priority"),
            agent_id=query_int(request, "agent_id"),
            requester_id=query_int(request, "requester_id"),
            breached=None if not breached else breached == "true",
            text=(params.get("q") or "").strip()[:200] or None,
            tag=(params.get("tag") or "").strip()[:40] or None,
            unassigned=params.get("unassigned") == "true",
        )
    return JSONResponse(page)


async def create_ticket(request: Request) -> Response:
    """Alt+T in the console: an agent opens a ticket for a customer (or for themself)."""
    ctx = context(request)
    principal = await ctx.authenticate_agent(request, True)
    data = await json_body(request)
    email = data.get("requester_email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise InvalidTicket("'requester_email' must be the customer's email address.")
    now = ctx.clock.now()
    async with transaction(ctx.sessions) as session:
        requester = await session.scalar(
            select(Customer).where(Customer.email == email.strip().lower())
        )
        if requester is None:
            name = data.get("requester_name")
            requester = Customer(
                name=name.strip()[:120] if isinstance(name, str) and name.strip() else email,
                email=email.strip().lower(),
            )
            session.add(requester)
            await session.flush()
        ticket = await tickets.create(
            session,
            requester=requester,
            service_id=_required_int(data, "service_id"),
            subject=data.get("subject"),  # type: ignore[arg-type]
            message=data.get("message"),  # type: ignore[arg-type]
            who=who_of(principal),
            now=now,
            origin=TicketOrigin.AGENT,
            category_id=_optional_int(data, "category_id"),
            priority=enum_value(Priority, data.get("priority"), "priority") or Priority.P3,
            request_type=enum_value(RequestType, data.get("request_type"), "request_type"),
            cc=data.get("cc") or [],
            agent_id=principal.id if data.get("assign_to_me") else _optional_int(data, "agent_id"),
        )
        return await detail_response(session, ticket, principal, ctx, 201)


def _required_int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not is_id(value):
        raise InvalidTicket(f"'{name}' is required and must be an id (a whole number).")
    assert isinstance(value, int)
    return value


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    return None if data.get(name) is None else _required_int(data, name)


async def get_ticket(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.authenticate_agent(request, False)
    async with ctx.sessions() as session:
        ticket = await views.visible_ticket(session, principal, request.path_params["ticket_id"])
        return await detail_response(session, ticket, principal, ctx)


async def _agent_change(
    request: Request,
    change: Callable[[AsyncSession, Ticket, Principal, dict[str, Any]], Awaitable[None]],
) -> Response:
    ctx = context(request)
    principal = await ctx.authenticate_agent(request, True)
    data = await json_body(request)
    async with transaction(ctx.sessions) as session:
        await views.visible_ticket(session, principal, request.path_params["ticket_id"])
        ticket = await locked_ticket(session, request.path_params["ticket_id"])
        await change(session, ticket, principal, data)
        return await detail_response(session, ticket, principal, ctx)


async def update_ticket(request: Request) -> Response:
    now = context(request).clock.now()

    async def change(
        session: AsyncSession, ticket: Ticket, principal: Principal, data: dict[str, Any]
    ) -> None:
        who = who_of(principal)
        await tickets.update_fields(session, ticket, who, now, data)

    return await _agent_change(request, change)


async def change_status(request: Request) -> Response:
    now = context(request).clock.now()

    async def change(
        session: AsyncSession, ticket: Ticket, principal: Principal, data: dict[str, Any]
    ) -> None:
        who = who_of(principal)
        status = enum_value(TicketStatus, data.get("status"), "status")
        if status is None:
            raise BadRequest("'status' is required.")
        reason = enum_value(CloseReason, data.get("reason"), "reason")
        await tickets.change_status(session, ticket, status, who, now, reason)

    return await _agent_change(request, change)


async def assign(request: Request) -> Response:
    now = context(request).clock.now()

    async def change(
        session: AsyncSession, ticket: Ticket, principal: Principal, data: dict[str, Any]
    ) -> None:
        who = who_of(principal)
        await tickets.assign(session, ticket, _optional_int(data, "agent_id"), who, now)

    return await _agent_change(request, change)


async def reply(request: Request) -> Response:
    now = context(request).clock.now()

    async def change(
        session: AsyncSession, ticket: Ticket, principal: Principal, data: dict[str, Any]
    ) -> None:
        who = who_of(principal)
        internal = data.get("internal", False)
        if not isinstance(internal, bool):
            raise BadRequest("'internal' must be true or false.")
        await tickets.reply(
            session,
            ticket,
            who,
            data.get("body"),
            now,  # type: ignore[arg-type]
            internal=internal,
            set_status=enum_value(TicketStatus, data.get("status"), "status"),
        )

    return await _agent_change(request, change)


async def merge(request: Request) -> Response:
    now = context(request).clock.now()

    async def change(
        session: AsyncSession, ticket: Ticket, principal: Principal, data: dict[str, Any]
    ) -> None:
        who = who_of(principal)
        target_id = _required_int(data, "into_id")
        await views.visible_ticket(session, principal, target_id)
        into = await locked_ticket(session, target_id)
        await tickets.merge(session, ticket, into, who, now)

    return await _agent_change(request, change)


async def bulk_change(request: Request) -> Response:
    """Change many tickets at once; all or nothing, so a refused change touches none."""
    ctx = context(request)
    principal = await ctx.authenticate_agent(request, True)
    data = await json_body(request)
    ids = data.get("ids")
    if (
        not isinstance(ids, list)
        or not ids
        or len(ids) > MAX_BULK
        or not all(is_id(i) for i in ids)
    ):
        raise BadRequest(f"'ids' must be a list of 1 to {MAX_BULK} ticket ids.")
    who, now = who_of(principal), ctx.clock.now()
    status = enum_value(TicketStatus, data.get("status"), "status")
    reason = enum_value(CloseReason, data.get("reason"), "reason")
    fields = {k: data[k] for k in ("priority", "tags", "service_id", "category_id") if k in data}
    async with transaction(ctx.sessions) as session:
        for ticket_id in sorted(set(ids)):
            await views.visible_ticket(session, principal, ticket_id)
            ticket = await locked_ticket(session, ticket_id)
            if fields:
                await tickets.update_fields(session, ticket, who, now, fields)
            if "agent_id" in data:
                await tickets.assign(session, ticket, _optional_int(data, "agent_id"), who, now)
            if status is not None:
                await tickets.change_status(session, ticket, status, who, now, reason)
    return JSONResponse({"updated": sorted(set(ids))})


async def categories(request: Request) -> Response:
    """A service's categories, for the new-ticket forms (public: names only)."""
    ctx = context(request)
    async with ctx.sessions() as session:
        service = await session.get(Service, request.path_params["service_id"])
        if service is None or not service.active:
            raise NotFound("There is no such service.")
        rows = await session.scalars(
            select(Category)
            .where(Category.service_id == service.id, Category.active.is_(True))
            .order_by(Category.name)
        )
        return JSONResponse({"items": [{"id": c.id, "name": c.name} for c in rows]})


# ----------------------------------------------------------------- attachments
async def upload(request: Request, principal: Principal, ctx: TicketingContext) -> Response:
    """Attach one file (multipart field `file`, optional `message_id`) to a visible ticket."""
    # The form's temporary files are closed when the block ends.
    async with request.form(
        max_files=1, max_fields=5, max_part_size=files.MAX_ATTACHMENT_BYTES
    ) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest("Send the file in a multipart field named 'file'.")
        data = await upload.read(files.MAX_ATTACHMENT_BYTES + 1)
        filename = upload.filename or "file"
    stored = files.store(data)
    async with transaction(ctx.sessions) as session:
        ticket = await views.visible_ticket(session, principal, request.path_params["ticket_id"])
        if ticket.status is TicketStatus.CLOSED:
            raise InvalidTicket("This ticket is closed; please open a new one.")
        attachment = Attachment(
            ticket_id=ticket.id,
            filename=files.safe_filename(filename),
            content_type=stored.content_type,
            size=stored.size,
            storage_key=stored.storage_key,
            uploaded_by=AuthorType.AGENT if principal.is_agent else AuthorType.CUSTOMER,
            uploader_id=principal.id,
            created_at=ctx.clock.now(),
        )
        session.add(attachment)
        await session.flush()
        return JSONResponse(views.attachment_view(attachment), status_code=201)


async def agent_upload(request: Request) -> Response:
    ctx = context(request)
    return await upload(request, await ctx.authenticate_agent(request, True), ctx)


async def download(request: Request) -> Response:
    """Images inline, everything else as a download; never sniffed into HTML by the browser."""
    ctx = context(request)
    principal = await _agent_or_customer(request, ctx)
    async with ctx.sessions() as session:
        attachment = await session.get(Attachment, request.path_params["attachment_id"])
        if attachment is None:
            raise NotFound("There is no such file.")
        await views.visible_ticket(session, principal, attachment.ticket_id)
        if not principal.is_agent and attachment.message_id is not None:
            message = await session.get(TicketMessage, attachment.message_id)
            if message is not None and message.internal:
                raise NotFound("There is no such file.")
    disposition = "inline" if attachment.content_type in files.INLINE_TYPES else "attachment"
    response = FileResponse(
        files.path_of(attachment.storage_key),
        media_type=attachment.content_type,
        filename=attachment.filename,
        content_disposition_type=disposition,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


async def _agent_or_customer(request: Request, ctx: TicketingContext) -> Principal:
    try:
        return await ctx.authenticate_agent(request, False)
    except DeskError:
        return await ctx.authenticate_customer(request, False)


routes = [
    Route("/api/tickets", list_tickets),
    Route("/api/tickets", create_ticket, methods=["POST"]),
    Route("/api/tickets/bulk", bulk_change, methods=["POST"]),
    Route("/api/tickets/{ticket_id:id}", get_ticket),
    Route("/api/tickets/{ticket_id:id}", update_ticket, methods=["PATCH"]),
    Route("/api/tickets/{ticket_id:id}/status", change_status, methods=["POST"]),
    Route("/api/tickets/{ticket_id:id}/assign", assign, methods=["POST"]),
    Route("/api/tickets/{ticket_id:id}/replies", reply, methods=["POST"]),
    Route("/api/tickets/{ticket_id:id}/merge", merge, methods=["POST"]),
    Route("/api/tickets/{ticket_id:id}/attachments", agent_upload, methods=["POST"]),
    Route("/api/attachments/{attachment_id:id}", download),
    Route("/api/services/{service_id:id}/categories", categories),
]
