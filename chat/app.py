"""The Starlette application: routes, error rendering, and the lifespan that runs the hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute

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

    app = Starlette(
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
            WebSocketRoute("/ws/widget", widget_socket),
            WebSocketRoute("/ws/console", console_socket),
            *pages.routes,
        ],
        exception_handlers={DeskError: http_api.json_error},
        middleware=[Middleware(BodyLimit, max_bytes=settings.max_body_bytes)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
