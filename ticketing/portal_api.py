"""`/api/portal/…`: the customer's ticket panel (seeds/002, Tecnospeed, item by item).

Five views of their own tickets, a new-ticket form, replies, confirm or reopen a
resolved ticket, rate it, and — for an organization's designated contacts — approve
a colleague's ticket. Customers never see internal notes or other people's tickets.
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from ticketing import tickets as views
from ticketing.api import (
    BadRequest,
    _optional_int,
    _required_int,
    context,
    detail_response,
    enum_value,
    json_body,
    query_int,
    upload,
    who_of,
)
from ticketing.db import transaction
from ticketing.models import Category, Customer, RequestType, Survey, TicketOrigin, TicketStatus
from ticketing.service import InvalidTicket, locked_ticket, tickets
from ticketing.status import CloseReason, PanelView
from ticketing.surveys import answer_survey


async def me(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.authenticate_customer(request, False)
    return JSONResponse(
        {"customer": {"id": principal.id, "name": principal.name, "email": principal.email}}
    )


async def panel(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.authenticate_customer(request, False)
    view = enum_value(PanelView, request.query_params.get("view") or "all", "view")
    async with ctx.sessions() as session:
        page = await views.panel_tickets(
            session,
            principal,
            view,
            page=query_int(request, "page", 1) or 1,
            per_page=query_int(request, "per_page", 25) or 25,
        )
    return JSONResponse(page)


async def counts(request: Request) -> Response:
    """How many tickets each of the five views holds (the panel's badges)."""
    ctx = context(request)
    principal = await ctx.authenticate_customer(request, False)
    async with ctx.sessions() as session:
        result = {
            view.value: (await views.panel_tickets(session, principal, view, per_page=1))["total"]
            for view in PanelView
        }
    return JSONResponse(result)


async def create(request: Request) -> Response:
    """Required: service, category (when the service has categories), subject, message."""
    ctx = context(request)
    principal = await ctx.authenticate_customer(request, True)
    data = await json_body(request)
    async with transaction(ctx.sessions) as session:
        customer = await session.get(Customer, principal.id)
        assert customer is not None  # the session names an existing customer
        service_id = _required_int(data, "service_id")
        has_categories = await session.scalar(
            select(Category.id)
            .where(Category.service_id == service_id, Category.active.is_(True))
            .limit(1)
        )
        category_id = _optional_int(data, "category_id")
        if has_categories and category_id is None:
            raise InvalidTicket("Please choose a category.")
        ticket = await tickets.create(
            session,
            requester=customer,
            service_id=service_id,
            subject=data.get("subject"),  # type: ignore[arg-type]
            message=data.get("message"),  # type: ignore[arg-type]
            who=who_of(principal),
            now=ctx.clock.now(),
            origin=TicketOrigin.PORTAL,
            category_id=category_id,
            request_type=enum_value(RequestType, data.get("request_type"), "request_type"),
            cc=data.get("cc") or [],
        )
        return await detail_response(session, ticket, principal, ctx, 201)


async def detail(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.authenticate_customer(request, False)
    async with ctx.sessions() as session:
        ticket = await views.visible_ticket(session, principal, request.path_params["ticket_id"])
        return await detail_response(session, ticket, principal, ctx)


async def _act(request: Request, action: str) -> Response:
    ctx = context(request)
    principal = await ctx.authenticate_customer(request, True)
    data = await json_body(request)
    now, who = ctx.clock.now(), who_of(principal)
    async with transaction(ctx.sessions) as session:
        await views.visible_ticket(session, principal, request.path_params["ticket_id"])
        ticket = await locked_ticket(session, request.path_params["ticket_id"])
        if action == "reply":
            await tickets.reply(session, ticket, who, data.get("body"), now)  # type: ignore[arg-type]
        elif action == "confirm":
            await tickets.change_status(
                session, ticket, TicketStatus.CLOSED, who, now, CloseReason.APPROVED
            )
        elif action == "reopen":
            await tickets.change_status(session, ticket, TicketStatus.OPEN, who, now)
        elif action == "approve":
            customer = await session.get(Customer, principal.id)
            assert customer is not None
            await tickets.approve(session, ticket, customer, now)
        elif action == "rate":
            if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
                raise InvalidTicket("A ticket is rated once it is resolved or closed.")
            if await session.scalar(select(Survey.id).where(Survey.ticket_id == ticket.id)) is None:
                session.add(Survey(ticket_id=ticket.id, created_at=now))
                await session.flush()
            await answer_survey(session, ticket.id, data.get("rating"), data.get("comment"), now)
        else:  # pragma: no cover - the routes below name every action
            raise BadRequest("Unknown action.")
        return await detail_response(session, ticket, principal, ctx)


async def reply(request: Request) -> Response:
    return await _act(request, "reply")


async def confirm(request: Request) -> Response:
    return await _act(request, "confirm")


async def reopen(request: Request) -> Response:
    return await _act(request, "reopen")


async def rate(request: Request) -> Response:
    return await _act(request, "rate")


async def approve(request: Request) -> Response:
    return await _act(request, "approve")


async def customer_upload(request: Request) -> Response:
    ctx = context(request)
    return await upload(request, await ctx.authenticate_customer(request, True), ctx)


routes = [
    Route("/api/portal/me", me),
    Route("/api/portal/tickets", panel),
    Route("/api/portal/tickets", create, methods=["POST"]),
    Route("/api/portal/counts", counts),
    Route("/api/portal/tickets/{ticket_id:id}", detail),
    Route("/api/portal/tickets/{ticket_id:id}/replies", reply, methods=["POST"]),
    Route("/api/portal/tickets/{ticket_id:id}/confirm", confirm, methods=["POST"]),
    Route("/api/portal/tickets/{ticket_id:id}/reopen", reopen, methods=["POST"]),
    Route("/api/portal/tickets/{ticket_id:id}/rate", rate, methods=["POST"]),
    Route("/api/portal/tickets/{ticket_id:id}/approve", approve, methods=["POST"]),
    Route("/api/portal/tickets/{ticket_id:id}/attachments", customer_upload, methods=["POST"]),
]
