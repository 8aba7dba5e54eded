"""`/api/canned`, `/api/chats/{id}/context`, `/api/agents`: the console's tools beside a chat.

Endpoints stay thin (parse, call one service function, render); the rules live in
chat/canned.py, chat/customer_context.py and chat/desk.py. Any logged-in agent may
call them; what each one sees is decided there. Cookie calls that change something
need the CSRF header, like every other console route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat import canned, desk
from chat.customer_context import DEFAULT_LIMIT, MAX_LIMIT, chat_for_agent, customer_context
from chat.errors import DeskError
from chat.http_api import current_agent, read_json, runtime_of
from ticketing.api import query_int
from ticketing.db import transaction
from ticketing.ids import MAX_ID
from ticketing.models import Agent


class BadQuery(DeskError):
    code = "bad_query"
    http_status = 422


def _int_query(request: Request, name: str, low: int, high: int) -> int | None:
    """The query's parser (ticketing's `query_int`), plus the range this route allows."""
    try:
        value = query_int(request, name)
    except DeskError:
        value = -1
    if value is not None and not low <= value <= high:
        raise BadQuery(f"'{name}' must be a whole number from {low} to {high}.")
    return value


def _actor(request: Request, agent: Agent) -> canned.Actor:
    ip = request.client.host if request.client else ""
    return canned.Actor(agent, ip, runtime_of(request).clock)


async def list_canned(request: Request) -> Response:
    """Without `chat_id`: what the agent may keep. With it: what fits that chat, filled in."""
    agent = (await current_agent(request)).agent
    chat_id = _int_query(request, "chat_id", 0, MAX_ID)
    async with runtime_of(request).sessions() as session:
        if chat_id is None:
            rows = await canned.visible(session, agent)
            return JSONResponse({"items": [canned.view(r, agent) for r in rows]})
        chat = await chat_for_agent(session, agent, chat_id)
        values = await canned.values_for_chat(session, chat, agent)
        rows = await canned.visible(session, agent, chat.service_id)
        return JSONResponse({"items": [canned.view(r, agent, values) for r in rows]})


async def create_canned(request: Request) -> Response:
    agent = (await current_agent(request, state_changing=True)).agent
    draft = canned.parse_draft(await read_json(request), creating=True)
    async with transaction(runtime_of(request).sessions) as session:
        row = await canned.create(session, _actor(request, agent), draft)
        data = canned.view(row, agent)
    return JSONResponse(data, status_code=201)


async def change_canned(request: Request) -> Response:
    agent = (await current_agent(request, state_changing=True)).agent
    draft = canned.parse_draft(await read_json(request), creating=False)
    async with transaction(runtime_of(request).sessions) as session:
        row = await canned.change(
            session, _actor(request, agent), request.path_params["response_id"], draft
        )
        data = canned.view(row, agent)
    return JSONResponse(data)


async def delete_canned(request: Request) -> Response:
    agent = (await current_agent(request, state_changing=True)).agent
    async with transaction(runtime_of(request).sessions) as session:
        await canned.delete(session, _actor(request, agent), request.path_params["response_id"])
    return Response(status_code=204)


async def chat_context(request: Request) -> Response:
    agent = (await current_agent(request)).agent
    limit = _int_query(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    async with runtime_of(request).sessions() as session:
        data = await customer_context(session, agent, request.path_params["chat_id"], limit)
    return JSONResponse(data)


async def agent_roster(request: Request) -> Response:
    """Colleagues to transfer a chat to: presence and load, who could take it first."""
    await current_agent(request)
    runtime = runtime_of(request)
    async with runtime.sessions() as session:
        roster = await desk.agent_roster(session, runtime.clock.now())
    return JSONResponse({"items": roster})


routes = [
    Route("/api/canned", list_canned),
    Route("/api/canned", create_canned, methods=["POST"]),
    Route("/api/canned/{response_id:id}", change_canned, methods=["PATCH"]),
    Route("/api/canned/{response_id:id}", delete_canned, methods=["DELETE"]),
    Route("/api/chats/{chat_id:id}/context", chat_context),
    Route("/api/agents", agent_roster),
]
