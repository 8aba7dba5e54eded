"""`/api/…`: JSON over HTTP for the console, the survey link and integrations.

Endpoints stay thin: parse, call one service function, render. Every error is a
`DeskError` rendered as `{"code", "message"}` with its status (see `json_error`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat import audit
from chat.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    LoggedIn,
    agent_for_api_token,
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
from ticketing.access import Principal
from ticketing.api import json_body
from ticketing.db import transaction
from ticketing.portal_auth import (
    PORTAL_COOKIE,
    PORTAL_CSRF_COOKIE,
    SESSION_DAYS,
    BadLink,
    NotSignedIn,
    customer_from_link,
    end_customer_session,
    start_customer_session,
)
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


class TooManyAttempts(DeskError):
    code = "too_many_attempts"
    message = "Too many failed logins. Wait a few minutes and try again."
    http_status = 429


class CsrfFailed(DeskError):
    code = "csrf_failed"
    message = "This request did not come from the console; reload the page and try again."
    http_status = 403


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def json_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DeskError)
    return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.http_status)


async def read_json(request: Request) -> dict[str, Any]:
    return await json_body(request, max_bytes=MAX_JSON_BYTES)


async def current_agent(request: Request, *, state_changing: bool = False) -> LoggedIn:
    runtime = runtime_of(request)
    bearer = request.headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        # An integration's API token: no cookie, so no CSRF to check.
        by_token = await agent_for_api_token(runtime.sessions, bearer[7:].strip(), runtime.clock)
        if by_token is None:
            raise NotLoggedIn("This API token is not valid (or was revoked).")
        return by_token
    logged_in = await session_agent(
        runtime.sessions, request.cookies.get(SESSION_COOKIE), runtime.clock
    )
    if logged_in is None:
        raise NotLoggedIn()
    if state_changing and not csrf_ok(logged_in.csrf_token, request.headers.get(CSRF_HEADER)):
        raise CsrfFailed()
    return logged_in


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
    if origin is not None and not origin_allowed(origin, runtime.settings, runtime.widget.origins):
        raise CsrfFailed()
    data = await read_json(request)
    email, password = data.get("email"), data.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or len(password) > 1024:
        raise BadLogin()
    ip = request.client.host if request.client else "?"
    account = email.strip().lower()[:254]
    limits = runtime.limits  # shared by every process when on Redis
    if await limits.login_per_ip.blocked(ip) or await limits.login_per_account.blocked(account):
        raise TooManyAttempts()
    async with runtime.sessions() as session:
        agent = await authenticate(session, email, password)
    if agent is None:
        await limits.login_per_ip.hit(ip)
        await limits.login_per_account.hit(account)
        await audit.record(
            runtime.sessions,
            audit.entry(
                audit.LOGIN_FAILED,
                runtime.clock,
                actor_type="anonymous",
                actor_name=account,
                ip=ip,
            ),
        )
        raise BadLogin()
    await audit.record(
        runtime.sessions,
        audit.entry(
            audit.LOGIN,
            runtime.clock,
            actor_type="agent",
            actor_id=agent.id,
            actor_name=agent.email,
            ip=ip,
        ),
    )
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
    await audit.record(
        runtime.sessions,
        audit.entry(
            audit.LOGOUT,
            runtime.clock,
            actor_type="agent",
            actor_id=logged_in.agent.id,
            actor_name=logged_in.agent.email,
            ip=request.client.host if request.client else "",
        ),
    )
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


async def agent_principal(request: Request, state_changing: bool) -> Principal:
    """The logged-in agent as ticketing sees them (injected into ticketing's API)."""
    agent = (await current_agent(request, state_changing=state_changing)).agent
    return Principal.of_agent(agent)


async def portal_from_widget(request: Request) -> Response:
    """Sign in to the portal with the widget's identity (its signed customer token)."""
    runtime = runtime_of(request)
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(origin, runtime.settings, runtime.widget.origins):
        raise CsrfFailed()
    data = await read_json(request)
    ip = request.client.host if request.client else "?"
    if await runtime.limits.portal_sign_in_per_ip.blocked(ip):
        raise TooManyAttempts("Too many failed sign-ins. Wait a few minutes and try again.")
    site = data.get("site") if isinstance(data.get("site"), str) else runtime.settings.origin
    customer_id = runtime.tokens.verify(data.get("token"), site)
    if customer_id is None:
        await runtime.limits.portal_sign_in_per_ip.hit(ip)
        raise NotSignedIn("This identity is not valid here; please sign in again.")
    token, csrf = await start_customer_session(runtime.sessions, customer_id, runtime.clock)
    response = JSONResponse({"customer_id": customer_id, "csrf_token": csrf})
    _portal_cookies(response, token, csrf, request.url.scheme == "https")
    return response


async def portal_from_link(request: Request) -> Response:
    """Sign in to the portal with the signed link of an email (confirm, reopen, view)."""
    runtime = runtime_of(request)
    data = await read_json(request)
    token = data.get("token")
    ip = request.client.host if request.client else "?"
    if await runtime.limits.portal_sign_in_per_ip.blocked(ip):
        raise TooManyAttempts("Too many failed sign-ins. Wait a few minutes and try again.")
    try:
        if not isinstance(token, str) or len(token) > 1024:
            raise BadLink()
        customer_id = customer_from_link(runtime.settings.secret_key, token)
    except BadLink:
        await runtime.limits.portal_sign_in_per_ip.hit(ip)  # guessing links is a flood too
        raise
    session_token, csrf = await start_customer_session(runtime.sessions, customer_id, runtime.clock)
    response = JSONResponse({"customer_id": customer_id, "csrf_token": csrf})
    _portal_cookies(response, session_token, csrf, request.url.scheme == "https")
    return response


def _portal_cookies(response: Response, token: str, csrf: str, secure: bool) -> None:
    max_age = SESSION_DAYS * 24 * 3600
    response.set_cookie(
        PORTAL_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.set_cookie(
        PORTAL_CSRF_COOKIE,
        csrf,
        max_age=max_age,
        httponly=False,
        samesite="strict",
        secure=secure,
        path="/",
    )


async def portal_logout(request: Request) -> Response:
    runtime = runtime_of(request)
    await request.app.state.ticketing.authenticate_customer(request, True)
    token = request.cookies.get(PORTAL_COOKIE)
    if token:
        await end_customer_session(runtime.sessions, token)
    response = Response(status_code=204)
    response.delete_cookie(PORTAL_COOKIE, path="/")
    response.delete_cookie(PORTAL_CSRF_COOKIE, path="/")
    return response


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
    Route("/api/portal/session", portal_from_widget, methods=["POST"]),
    Route("/api/portal/link", portal_from_link, methods=["POST"]),
    Route("/api/portal/logout", portal_logout, methods=["POST"]),
    Route("/api/surveys/{token}", answer_survey_link, methods=["POST"]),
]
