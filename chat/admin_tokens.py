"""`/api/admin/tokens`: API tokens for integrations, shown once, stored hashed, revocable."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import ticketing.ids  # noqa: F401  (registers the {…:id} URL convertor)
from chat import audit
from chat.admin_api import InvalidSetting, audit_change, require_admin, text_setting
from chat.auth import new_api_token
from chat.http_api import read_json, runtime_of
from chat.models import ApiToken
from ticketing.db import iso, transaction
from ticketing.errors import NotFound


def token_view(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "agent_id": row.agent_id,
        "created_at": iso(row.created_at),
        "last_used_at": iso(row.last_used_at),
        "revoked_at": iso(row.revoked_at),
    }


async def list_tokens(request: Request) -> Response:
    await require_admin(request)
    async with runtime_of(request).sessions() as session:
        rows = await session.scalars(select(ApiToken).order_by(ApiToken.id))
        return JSONResponse({"items": [token_view(r) for r in rows]})


async def create_token(request: Request) -> Response:
    """A token for an integration, acting as this admin; shown once, stored as a hash."""
    admin = await require_admin(request)
    data = await read_json(request)
    name = text_setting(data, "name", 120) if "name" in data else None
    if name is None:
        raise InvalidSetting("A token needs a 'name' (what it is for).")
    token, digest, prefix = new_api_token()
    runtime = runtime_of(request)
    async with transaction(runtime.sessions) as session:
        row = ApiToken(
            agent_id=admin.id,
            name=name,
            token_hash=digest,
            prefix=prefix,
            created_at=runtime.clock.now(),
        )
        session.add(row)
        await session.flush()
        audit_change(
            session,
            request,
            admin,
            audit.TOKEN_CREATED,
            f"token:{row.id}",
            {"name": name, "prefix": prefix},
        )
        view = token_view(row)
    return JSONResponse({**view, "token": token}, status_code=201)


async def revoke_token(request: Request) -> Response:
    admin = await require_admin(request)
    runtime = runtime_of(request)
    async with transaction(runtime.sessions) as session:
        row = await session.get(ApiToken, request.path_params["token_id"])
        if row is None:
            raise NotFound("There is no such token.")
        if row.revoked_at is None:
            row.revoked_at = runtime.clock.now()
            audit_change(
                session,
                request,
                admin,
                audit.TOKEN_REVOKED,
                f"token:{row.id}",
                {"prefix": row.prefix},
            )
        view = token_view(row)
    return JSONResponse(view)


routes = [
    Route("/api/admin/tokens", list_tokens),
    Route("/api/admin/tokens", create_token, methods=["POST"]),
    Route("/api/admin/tokens/{token_id:id}", revoke_token, methods=["DELETE"]),
]
