"""`/api/…`: JSON over HTTP for the console, the survey link and integrations.

Endpoints stay thin: parse, call one service function, render. Every error is a
`DeskError` rendered as `{"code", "message"}` with its status (see `json_error`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import or_, select, update
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    LoggedIn,
    authenticate,
    csrf_ok,
    end_session,
    origin_allowed,
    session_agent,
    start_session,
)
from chat.errors import DeskError
from chat.models import Chat
from chat.runtime import Runtime
from chat.states import SurveyState
from chat.ws_console import agent_view
from ticketing import tickets
from ticketing.db import transaction
from ticketing.errors import TicketNotFound
from ticketing.models import AgentRole, Ticket, TicketStatus
from ticketing.surveys import answer_survey, ticket_from_survey_token

MAX_JSON_BYTES = 64 * 1024


class NotLoggedIn(DeskError):
    code = "not_logged_in"
    message = "Please log in."
    http_status = 401


class BadLogin(DeskError):
    code = "bad_login"
    message = "Wrong email or password."
    http_status = 401


class CsrfFailed(DeskError):
    code = "csrf_failed"
    message = "This request did not come from the console; reload the page and try again."
    http_status = 403


class BadJsonBody(DeskError):
    code = "bad_json"
    message = "The request body must be a JSON object."
    http_status = 400


class BodyTooLarge(DeskError):
    code = "body_too_large"
    message = "The request body is too large."
    http_status = 413


class BadQuery(DeskError):
    code = "bad_query"
    message = "A query parameter has the wrong form."
    http_status = 400


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def json_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskError)
    return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.http_status)


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise DeskError(
            "The request body is too large.",
        ) from None
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BadJsonBody() from None
    if not isinstance(data, dict):
        raise BadJsonBody()
    return data


async def current_agent(request: Request, *, state_changing: bool = False) -> LoggedIn:
    runtime = runtime_of(request)
    logged_in = await session_agent(
        runtime.sessions, request.cookies.get(SESSION_COOKIE), runtime.clock
    )
    if logged_in is None:
        raise NotLoggedIn()
    if state_changing and not csrf_ok(logged_in.csrf_token, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed()
    return logged_in


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 9:
        raise BadQuery(f"'{name}' must be a positive whole number.")
    return int(raw)


async def health(request: Request) -> Response:
    runtime = runtime_of(request)
    return JSONResponse({"status": "ok", "bus": runtime.bus.healthy})


async def services(request: Request) -> Response:
    runtime = runtime_of(request)
    if not runtime.hub.desk_services:
        await runtime.hub.refresh_desk()
    return JSONResponse({"services": runtime.hub.desk_services})


async def login(request: Request) -> Response:
    runtime = runtime_of(request)
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(origin, runtime.settings):
        raise CsrfFailed()
    data = await read_json(request)
    email, password = data.get("email"), data.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or len(password) > 1024:
        raise BadLogin()
    async with runtime.sessions() as session:
        agent = await authenticate(session, email, password)
    if agent is None:
        raise BadLogin()
    client = request.client.host if request.client else ""
    token, csrf = await start_session(
        runtime.sessions,
        agent.id,
        runtime.settings,
        runtime.clock,
        client,
        request.headers.get("user-agent", ""),
    )
    response = JSONResponse({"agent": agent_view(agent), "csrf_token": csrf})
    secure = request.url.scheme == "https"
    max_age = runtime.settings.session_max_age_seconds
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


async def logout(request: Request) -> Response:
    runtime = runtime_of(request)
    logged_in = await current_agent(request, state_changing=True)
    await end_session(runtime.sessions, logged_in.token_hash)
    # Every console socket of this session closes (the hub matches the session).
    runtime.bus.publish(
        f"agent:{logged_in.agent.id}", {"type": "logout", "session": logged_in.token_hash}
    )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    logged_in = await current_agent(request)
    return JSONResponse({"agent": agent_view(logged_in.agent), "csrf_token": logged_in.csrf_token})


def _visible_to(logged_in: LoggedIn) -> Any:
    """Agents see tickets of their services and their own; admins see all."""
    agent = logged_in.agent
    if agent.role is AgentRole.ADMIN:
        return None
    return or_(Ticket.service_id.in_([s.id for s in agent.services]), Ticket.agent_id == agent.id)


async def list_tickets(request: Request) -> Response:
    logged_in = await current_agent(request)
    runtime = runtime_of(request)
    status = request.query_params.get("status")
    if status is not None and status not in {s.value for s in TicketStatus}:
        raise BadQuery("'status' must be one of new, open, pending, resolved, closed.")
    async with runtime.sessions() as session:
        page = await tickets.list_tickets(
            session,
            page=_int_param(request, "page", 1),
            per_page=_int_param(request, "per_page", 25),
            visible=_visible_to(logged_in),
            status=TicketStatus(status) if status else None,
        )
    return JSONResponse(page)


async def get_ticket(request: Request) -> Response:
    logged_in = await current_agent(request)
    runtime = runtime_of(request)
    raw = request.path_params["ticket_id"]
    async with runtime.sessions() as session:
        condition = _visible_to(logged_in)
        query = select(Ticket.id).where(Ticket.id == raw)
        if condition is not None:
            query = query.where(condition)
        if await session.scalar(query) is None:
            raise TicketNotFound()
        detail = await tickets.ticket_detail(session, raw, include_internal=True)
    return JSONResponse(detail)


async def answer_survey_link(request: Request) -> Response:
    """The one-click rating link (from the email issue); the widget uses the `rate` frame."""
    runtime = runtime_of(request)
    ticket_id = ticket_from_survey_token(runtime.settings.secret_key, request.path_params["token"])
    data = await read_json(request)
    async with transaction(runtime.sessions) as session:
        survey = await answer_survey(
            session, ticket_id, data.get("rating"), data.get("comment"), runtime.clock.now()
        )
        await session.execute(
            update(Chat).where(Chat.ticket_id == ticket_id).values(survey=SurveyState.ANSWERED)
        )
    return JSONResponse({"ticket_id": ticket_id, "rating": survey.rating})


routes = [
    Route("/api/health", health),
    Route("/api/services", services),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/me", me),
    Route("/api/tickets", list_tickets),
    Route("/api/tickets/{ticket_id:int}", get_ticket),
    Route("/api/surveys/{token}", answer_survey_link, methods=["POST"]),
]
