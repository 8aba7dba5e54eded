"""`/api/admin/audit`: the security audit log, newest first, for admins."""

from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat.admin_api import require_admin
from chat.http_api import runtime_of
from chat.models import AuditEntry
from ticketing.db import iso


async def list_audit(request: Request) -> Response:
    await require_admin(request)
    action = request.query_params.get("action")
    async with runtime_of(request).sessions() as session:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200)
        if action:
            query = query.where(AuditEntry.action == action[:40])
        rows = await session.scalars(query)
        items = [
            {
                "id": r.id,
                "at": iso(r.at),
                "action": r.action,
                "actor_type": r.actor_type,
                "actor_id": r.actor_id,
                "actor_name": r.actor_name,
                "ip": r.ip,
                "target": r.target,
                "details": r.details,
            }
            for r in rows
        ]
    return JSONResponse({"items": items})


routes = [
    Route("/api/admin/audit", list_audit),
]
