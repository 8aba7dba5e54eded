"""The Starlette application: routes, error rendering, and the lifespan that runs the hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from chat import (
    admin_agents,
    admin_api,
    admin_audit,
    admin_integrations,
    admin_orgs,
    admin_tokens,
    chat_files,
    console_api,
    http_api,
    openapi,
    pages,
    widget_api,
)
from chat.body_limit import BodyLimit
from chat.errors import DeskError
from chat.runtime import Runtime
from chat.settings import Settings
from chat.ws_console import console_socket
from chat.ws_widget import widget_socket
from ticketing import api as ticket_api
from ticketing import portal_api
from ticketing.api import TicketingContext
from ticketing.clock import Clock
from ticketing.portal_auth import customer_authenticator

SocketEndpoint = Callable[[WebSocket], Awaitable[None]]


class Chatdesk(Starlette):
    """Starlette, with the widget's and the console's sockets handed to their endpoints
    directly.

    A socket stays open for hours, suspended all along in every coroutine between
    uvicorn and its endpoint: Starlette's middleware stack, its router and the route's
    wrappers, each with its frame, closures and bound methods, and two `WebSocket`
    objects. That is about a quarter of the objects a socket keeps, which every garbage
    collection walks, and memory (docs/performance.md, "Ten thousand sockets, a quarter
    lighter"). None of it does anything for these two paths: the body limit is for HTTP,
    and `run_socket` answers any error itself (an error frame, or a close with 1011).
    Every other scope goes through Starlette as before, and so do these paths when the
    app is mounted under a root path (Starlette then strips it).
    """

    def __init__(self, *args: Any, sockets: dict[str, SocketEndpoint], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not scope.get("root_path"):
            endpoint = self.sockets.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                await endpoint(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


SOCKETS: dict[str, SocketEndpoint] = {"/ws/widget": widget_socket, "/ws/console": console_socket}


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, *, run_timers: bool = True
) -> Starlette:
    settings = settings or Settings.from_env()
    settings.check_production_safety()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await Runtime.start(settings, clock, run_timers=run_timers)
        app.state.runtime = runtime
        app.state.ticketing = TicketingContext(
            sessions=runtime.sessions,
            scans=runtime.scans,
            clock=runtime.clock,
            authenticate_agent=http_api.agent_principal,
            authenticate_customer=customer_authenticator(runtime.sessions, runtime.clock),
        )
        try:
            yield
        finally:
            await runtime.stop()

    app = Chatdesk(
        routes=[
            *http_api.routes,
            *chat_files.routes,
            *console_api.routes,
            *admin_api.routes,
            *admin_agents.routes,
            *admin_orgs.routes,
            *admin_tokens.routes,
            *admin_audit.routes,
            *admin_integrations.routes,
            *widget_api.routes,
            *ticket_api.routes,
            *portal_api.routes,
            *openapi.routes,
            *(WebSocketRoute(path, endpoint) for path, endpoint in SOCKETS.items()),
            *pages.routes,
        ],
        exception_handlers={DeskError: http_api.json_error},
        middleware=[Middleware(BodyLimit, max_bytes=settings.max_body_bytes)],
        lifespan=lifespan,
        sockets=SOCKETS,
    )
    app.state.settings = settings
    return app
