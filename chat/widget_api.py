"""`/api/admin/widget` (admins edit the widget's look and sites) and `/api/widget/config`.

The public config is what the loader on a customer's site and the widget frame read to
draw themselves: colour, launcher side and greeting — never the list of origins. It is
readable cross-origin only by the sites allowed to embed the widget (CORS), since only
they run the loader. `/api/widget/portal-link` gives the widget's customer a link into
the portal (see `portal_link`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat import audit
from chat.admin_api import InvalidSetting, audit_change, require_admin
from chat.auth import origin_allowed
from chat.chat_files import WIDGET_SITE_HEADER, WIDGET_TOKEN_HEADER
from chat.http_api import NotLoggedIn, read_json, runtime_of
from chat.openapi import PATHS, TEXT, _body, _op
from chat.widget_settings import (
    LANGUAGES,
    MAX_GREETING_CHARS,
    MAX_ORIGINS,
    POSITIONS,
    WidgetSettingsError,
    load,
    save,
)
from ticketing.db import transaction
from ticketing.portal_auth import sign_in_link_token

# Loaders re-read the look this often at most; a saved colour shows within a minute.
PUBLIC_MAX_AGE_SECONDS = 60


async def get_widget_settings(request: Request) -> Response:
    await require_admin(request)
    async with runtime_of(request).sessions() as session:
        look = await load(session)
    return JSONResponse(look.to_dict())


async def put_widget_settings(request: Request) -> Response:
    """Validate everything, save, audit; this process and then every other one reload."""
    admin = await require_admin(request)
    data = await read_json(request)
    runtime = runtime_of(request)
    async with transaction(runtime.sessions) as session:
        current = await load(session)
        try:
            look = current.updated(data)
        except WidgetSettingsError as exc:
            raise InvalidSetting(str(exc)) from None
        await save(session, look, runtime.clock)
        details: dict[str, Any] = {"fields": sorted(data)}
        if look.allowed_origins != current.allowed_origins:
            # Who may embed the chat is security-relevant: keep the before and after.
            details["allowed_origins"] = {
                "before": list(current.allowed_origins),
                "after": list(look.allowed_origins),
            }
        audit_change(session, request, admin, audit.SETTINGS_CHANGED, "widget", details)
    await runtime.widget.reload()
    runtime.widget.announce()
    return JSONResponse(look.to_dict())


async def public_widget_config(request: Request) -> Response:
    runtime = runtime_of(request)
    response = JSONResponse(runtime.widget.look.public())
    origin = request.headers.get("origin")
    if origin_allowed(origin, runtime.settings, runtime.widget.origins):
        response.headers["Access-Control-Allow-Origin"] = origin or ""
    response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE_SECONDS}"
    return response


async def portal_link(request: Request) -> Response:
    """A link that signs the widget's customer in to the portal, for "See your tickets".

    The portal normally finds the widget's identity in the desk origin's storage. On a
    shop of another site that storage belongs to the shop's frame: browsers partition
    it or block it, so /portal opened in its own tab would not know the customer. The
    link carries the sign-in instead (the signed link the emails use, same lifetime).
    """
    runtime = runtime_of(request)
    token = request.headers.get(WIDGET_TOKEN_HEADER)
    site = request.headers.get(WIDGET_SITE_HEADER) or runtime.settings.origin
    customer_id = runtime.tokens.verify(token, site) if token else None
    if customer_id is None:
        raise NotLoggedIn("This chat identity is not valid here; reload the chat.")
    link = sign_in_link_token(runtime.settings.secret_key, customer_id)
    return JSONResponse({"url": f"{runtime.settings.origin}/portal?signin={link}"})


routes = [
    Route("/api/widget/portal-link", portal_link, methods=["POST"]),
    Route("/api/admin/widget", get_widget_settings),
    Route("/api/admin/widget", put_widget_settings, methods=["PUT"]),
    Route("/api/widget/config", public_widget_config),
]

_GREETING = {
    "type": "object",
    "properties": {lang: {"type": "string", "maxLength": MAX_GREETING_CHARS} for lang in LANGUAGES},
    "additionalProperties": False,
}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/admin/widget": {
        "get": _op("The widget's look and the sites allowed to embed it", tag="admin"),
        "put": _op(
            "Change the widget's look or allowed sites (absent fields stay as they are)",
            tag="admin",
            body=_body(
                {
                    "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                    "position": {"type": "string", "enum": list(POSITIONS)},
                    "greeting": _GREETING,
                    "allowed_origins": {"type": "array", "items": TEXT, "maxItems": MAX_ORIGINS},
                }
            ),
        ),
    },
    "/api/widget/config": {
        "get": _op("The widget's colour, launcher side and greeting", auth=None, tag="desk")
    },
    "/api/widget/portal-link": {
        "post": {
            **_op("A portal sign-in link for the widget's customer", tag="desk"),
            "security": [{"widget": []}],
        }
    },
}
# Documented where the routes are; the served document (chat/openapi.py) includes them.
PATHS.update(OPENAPI_PATHS)
