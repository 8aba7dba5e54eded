"""`/api/admin/webhooks…` and `/api/admin/outbox`: admins see and steer what leaves the desk.

Webhook endpoints (URL, secret, event types), each endpoint's delivery log with
redelivery on demand, and the email outbox — what was (or will be) sent, to whom,
how many attempts, the last error, and the words themselves. With no SMTP server
configured this is where a desk's emails are read (issue #5).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat.admin_api import InvalidSetting, flag_setting, require_admin
from chat.http_api import read_json, runtime_of
from chat.openapi import INT, PAGE, PATHS, TEXT, _body, _op, _path_id, _query
from ticketing.db import iso, transaction
from ticketing.errors import NotFound
from ticketing.mail_out import MailSettings
from ticketing.outbox import (
    DeliveryStatus,
    OutboxEmail,
    WebhookDelivery,
    WebhookEndpoint,
    retry_now,
)
from ticketing.webhooks import EVENT_TYPES, delivery_view, new_secret, redelivery

MAX_URL_CHARS = 2000
MAX_PER_PAGE = 100
MAX_ENDPOINTS = 50


def endpoint_view(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types or []),
        "description": endpoint.description,
        "active": endpoint.active,
        "customer_facing": endpoint.customer_facing,
        "created_at": iso(endpoint.created_at),
        # Shown once, when created or rotated; afterwards only its end, to recognise it.
        "secret_hint": "…" + endpoint.secret[-4:],
    }
    if with_secret:
        view["secret"] = endpoint.secret
    return view


def email_view(email: OutboxEmail) -> dict[str, Any]:
    return {
        "id": email.id,
        "kind": email.kind,
        "ticket_id": email.ticket_id,
        "chat_id": email.chat_id,
        "to": email.recipient,
        "from": email.sender,
        "subject": email.subject,
        "lang": email.lang,
        "message_id": email.message_id,
        "status": email.status.value,
        "attempts": email.attempts,
        "last_error": email.last_error,
        "created_at": iso(email.created_at),
        "last_attempt_at": iso(email.last_attempt_at),
        "next_attempt_at": iso(email.next_attempt_at)
        if email.status is DeliveryStatus.PENDING
        else None,
        "finished_at": iso(email.finished_at),
        "text": email.text_body,
    }


def _page(request: Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name) or str(default)
        if not raw.isascii() or not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
            raise InvalidSetting(f"'{name}' must be a whole number from 1.")
        return int(raw)

    return number("page", 1), min(number("per_page", 25), MAX_PER_PAGE)


def _status_filter(request: Request) -> DeliveryStatus | None:
    raw = request.query_params.get("status")
    if not raw:
        return None
    try:
        return DeliveryStatus(raw)
    except ValueError:
        choices = ", ".join(s.value for s in DeliveryStatus)
        raise InvalidSetting(f"'status' must be one of {choices}.") from None


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_URL_CHARS:
        raise InvalidSetting(f"'url' must be an http(s) URL of at most {MAX_URL_CHARS} characters.")
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSetting("'url' must be an absolute http:// or https:// URL.")
    if parts.username or parts.password:
        raise InvalidSetting("'url' may not hold a user name or password; the secret signs it.")
    return url


def _event_types(value: object) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in EVENT_TYPES for v in value)
    ):
        raise InvalidSetting(
            f"'event_types' must be a non-empty list of: {', '.join(EVENT_TYPES)}."
        )
    return sorted(set(value))


def _apply_endpoint(endpoint: WebhookEndpoint, data: dict[str, Any]) -> None:
    if "url" in data:
        endpoint.url = _url(data["url"])
    if "event_types" in data:
        endpoint.event_types = _event_types(data["event_types"])
    if "description" in data:
        if not isinstance(data["description"], str) or len(data["description"]) > 200:
            raise InvalidSetting("'description' must be text of at most 200 characters.")
        endpoint.description = data["description"].strip()
    for key in ("active", "customer_facing"):
        if key in data:
            setattr(endpoint, key, flag_setting(data, key))


async def list_webhooks(request: Request) -> Response:
    await require_admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
        failing = dict(
            (
                await session.execute(
                    select(WebhookDelivery.endpoint_id, func.count())
                    .where(WebhookDelivery.status == DeliveryStatus.FAILED)
                    .group_by(WebhookDelivery.endpoint_id)
                )
            ).all()
        )
        items = [endpoint_view(e) | {"failed_deliveries": failing.get(e.id, 0)} for e in rows]
    return JSONResponse({"items": items, "event_types": list(EVENT_TYPES)})


async def create_webhook(request: Request) -> Response:
    """The secret is in this response only; keep it where the receiver can read it."""
    await require_admin(request)
    data = await read_json(request)
    if "url" not in data or "event_types" not in data:
        raise InvalidSetting("A webhook needs a 'url' and its 'event_types'.")
    async with transaction(runtime_of(request).sessions) as session:
        count = await session.scalar(select(func.count()).select_from(WebhookEndpoint))
        if (count or 0) >= MAX_ENDPOINTS:
            raise InvalidSetting(f"A desk can have at most {MAX_ENDPOINTS} webhooks.")
        endpoint = WebhookEndpoint(
            secret=new_secret(),
            description="",
            active=True,
            customer_facing=False,
            created_at=runtime_of(request).clock.now(),
        )
        _apply_endpoint(endpoint, data)
        session.add(endpoint)
        await session.flush()
        view = endpoint_view(endpoint, with_secret=True)
    return JSONResponse(view, status_code=201)


async def update_webhook(request: Request) -> Response:
    """URL, event types, description, active, customer_facing; `rotate_secret: true`."""
    await require_admin(request)
    data = await read_json(request)
    async with transaction(runtime_of(request).sessions) as session:
        endpoint = await session.get(WebhookEndpoint, request.path_params["webhook_id"])
        if endpoint is None:
            raise NotFound("There is no such webhook.")
        _apply_endpoint(endpoint, data)
        rotated = "rotate_secret" in data and flag_setting(data, "rotate_secret")
        if rotated:
            endpoint.secret = new_secret()
        await session.flush()
        view = endpoint_view(endpoint, with_secret=rotated)
    return JSONResponse(view)


async def delete_webhook(request: Request) -> Response:
    """The endpoint and its delivery log; events stop being queued for it at once."""
    await require_admin(request)
    async with transaction(runtime_of(request).sessions) as session:
        endpoint = await session.get(WebhookEndpoint, request.path_params["webhook_id"])
        if endpoint is None:
            raise NotFound("There is no such webhook.")
        await session.delete(endpoint)
    return Response(status_code=204)


async def list_deliveries(request: Request) -> Response:
    await require_admin(request)
    page, per_page = _page(request)
    status = _status_filter(request)
    async with runtime_of(request).sessions() as session:
        endpoint = await session.get(WebhookEndpoint, request.path_params["webhook_id"])
        if endpoint is None:
            raise NotFound("There is no such webhook.")
        query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await session.scalars(
            query.order_by(WebhookDelivery.id.desc()).offset((page - 1) * per_page).limit(per_page)
        )
        items = [delivery_view(d) for d in rows]
    return JSONResponse({"items": items, "page": page, "per_page": per_page, "total": total or 0})


async def redeliver(request: Request) -> Response:
    """Send an event again, whatever became of it: a new delivery of the same event id."""
    await require_admin(request)
    runtime = runtime_of(request)
    async with transaction(runtime.sessions) as session:
        original = await session.get(WebhookDelivery, request.path_params["delivery_id"])
        if original is None:
            raise NotFound("There is no such delivery.")
        again = redelivery(original, runtime.clock.now())
        session.add(again)
        await session.flush()
        view = delivery_view(again)
    return JSONResponse(view, status_code=202)


async def list_outbox(request: Request) -> Response:
    await require_admin(request)
    runtime = runtime_of(request)
    page, per_page = _page(request)
    status = _status_filter(request)
    async with runtime.sessions() as session:
        query = select(OutboxEmail)
        if status is not None:
            query = query.where(OutboxEmail.status == status)
        if request.query_params.get("ticket_id", "").isdigit():
            query = query.where(OutboxEmail.ticket_id == int(request.query_params["ticket_id"]))
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await session.scalars(
            query.order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
        items = [email_view(e) for e in rows]
    return JSONResponse(
        {
            "items": items,
            "page": page,
            "per_page": per_page,
            "total": total or 0,
            "smtp_configured": MailSettings.from_settings(runtime.settings).smtp_configured,
        }
    )


async def resend_email(request: Request) -> Response:
    """A held or failed email goes back in line (e.g. once SMTP is configured)."""
    await require_admin(request)
    runtime = runtime_of(request)
    async with transaction(runtime.sessions) as session:
        email_id = request.path_params["email_id"]
        if not await retry_now(session, OutboxEmail, email_id, runtime.clock.now()):
            if await session.get(OutboxEmail, email_id) is None:
                raise NotFound("There is no such email.")
            raise InvalidSetting("Only a held or failed email can be sent again.")
        email = await session.get(OutboxEmail, email_id, populate_existing=True)
        assert email is not None
        view = email_view(email)
    return JSONResponse(view, status_code=202)


routes = [
    Route("/api/admin/webhooks", list_webhooks),
    Route("/api/admin/webhooks", create_webhook, methods=["POST"]),
    Route("/api/admin/webhooks/{webhook_id:id}", update_webhook, methods=["PATCH"]),
    Route("/api/admin/webhooks/{webhook_id:id}", delete_webhook, methods=["DELETE"]),
    Route("/api/admin/webhooks/{webhook_id:id}/deliveries", list_deliveries),
    Route(
        "/api/admin/webhooks/deliveries/{delivery_id:id}/redeliver",
        redeliver,
        methods=["POST"],
    ),
    Route("/api/admin/outbox", list_outbox),
    Route("/api/admin/outbox/{email_id:id}/resend", resend_email, methods=["POST"]),
]

# ------------------------------------------------------------------ OpenAPI
_ENDPOINT_BODY = {
    "url": {"type": "string", "format": "uri"},
    "event_types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
    "description": TEXT,
    "active": {"type": "boolean"},
    "customer_facing": {"type": "boolean"},
}
_STATUS = _query("status", {"type": "string", "enum": [s.value for s in DeliveryStatus]})
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/admin/webhooks": {
        "get": _op("Webhook endpoints", tag="admin"),
        "post": _op(
            "Register a webhook endpoint (the response holds its secret, once)",
            ok=201,
            tag="admin",
            body=_body(_ENDPOINT_BODY, ["url", "event_types"]),
        ),
    },
    "/api/admin/webhooks/{webhook_id}": {
        "patch": _op(
            "Change a webhook endpoint, or rotate its secret",
            params=[_path_id("webhook_id")],
            tag="admin",
            body=_body(_ENDPOINT_BODY | {"rotate_secret": {"type": "boolean"}}),
        ),
        "delete": _op(
            "Remove a webhook endpoint and its log",
            params=[_path_id("webhook_id")],
            ok=204,
            tag="admin",
        ),
    },
    "/api/admin/webhooks/{webhook_id}/deliveries": {
        "get": _op(
            "An endpoint's delivery log, newest first",
            params=[_path_id("webhook_id"), _STATUS, *PAGE],
            tag="admin",
        )
    },
    "/api/admin/webhooks/deliveries/{delivery_id}/redeliver": {
        "post": _op("Deliver an event again", params=[_path_id("delivery_id")], ok=202, tag="admin")
    },
    "/api/admin/outbox": {
        "get": _op(
            "Emails sent and to send, newest first, with their text",
            params=[_STATUS, _query("ticket_id", INT), *PAGE],
            tag="admin",
        )
    },
    "/api/admin/outbox/{email_id}/resend": {
        "post": _op(
            "Send a held or failed email again",
            params=[_path_id("email_id")],
            ok=202,
            tag="admin",
        )
    },
}
# Documented where the routes are; the served document (chat/openapi.py) includes them.
PATHS.update(OPENAPI_PATHS)
