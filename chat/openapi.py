"""The OpenAPI document of every `/api` route, served at `/api/openapi.json`.

Written as data next to the code it describes; a test checks that every `/api`
route of the app appears here with its methods, so the document can't drift.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ERROR = {"$ref": "#/components/schemas/Error"}
JSON_OBJECT = {"type": "object"}
_FIELD_RULE = {"type": "string", "enum": ["hidden", "optional", "required"]}
# A service's pre-chat form (chat/prechat.py); null = the defaults. The name can't be hidden.
PRECHAT_FIELDS = {
    "type": "object",
    "nullable": True,
    "properties": {
        "name": {"type": "string", "enum": ["optional", "required"]},
        "email": _FIELD_RULE,
        "subject": _FIELD_RULE,
    },
    "additionalProperties": False,
}


def _body(schema: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"type": "object", "properties": dict(schema)}
    if required:
        content["required"] = required
    return {"required": True, "content": {"application/json": {"schema": content}}}


def _op(
    summary: str,
    *,
    auth: str | None = "agent",
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    ok: int = 200,
    tag: str = "tickets",
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(ok): {"description": "OK", "content": {"application/json": {"schema": JSON_OBJECT}}},
        "400": {"description": "Bad request", "content": {"application/json": {"schema": ERROR}}},
        "404": {"description": "Not found", "content": {"application/json": {"schema": ERROR}}},
        "409": {"description": "Conflict", "content": {"application/json": {"schema": ERROR}}},
        "413": {"description": "Too large", "content": {"application/json": {"schema": ERROR}}},
        "422": {"description": "Invalid", "content": {"application/json": {"schema": ERROR}}},
    }
    if ok == 204:
        responses["204"] = {"description": "Done"}  # no body
    operation: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if auth:
        responses["401"] = {
            "description": "Not signed in",
            "content": {"application/json": {"schema": ERROR}},
        }
        responses["403"] = {
            "description": "Forbidden or CSRF",
            "content": {"application/json": {"schema": ERROR}},
        }
        operation["security"] = [{auth: []}]
    if body is not None:
        operation["requestBody"] = body
    if params:
        operation["parameters"] = params
    return operation


def _path_id(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": 999_999_999},
    }


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


INT = {"type": "integer", "minimum": 0}
TEXT = {"type": "string"}
STATUS = {"type": "string", "enum": ["new", "open", "pending", "resolved", "closed"]}
PRIORITY = {"type": "string", "enum": ["P1", "P2", "P3", "P4", "P5"]}
REASON = {"type": "string", "enum": ["solved", "inactive", "approved", "duplicate", "cancelled"]}
REQUEST_TYPE = {
    "type": "string",
    "enum": ["question", "fault", "improvement", "custom_development"],
}
EMAILS = {"type": "array", "items": {"type": "string", "format": "email"}}
UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        }
    },
}
CANNED_FIELDS = {
    "shortcut": {"type": "string", "pattern": "^/?[a-z0-9_-]{1,40}$"},
    "title": {"type": "string", "minLength": 1, "maxLength": 120},
    "body": {"type": "string", "minLength": 1, "maxLength": 5000},
    "service_id": {**INT, "nullable": True},
}
TICKET = _path_id("ticket_id")
CHAT_UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "client_id": {"type": "string", "maxLength": 64},
                },
                "required": ["file"],
            }
        }
    },
}


def _errors(operation: dict[str, Any], *errors: tuple[str, str]) -> dict[str, Any]:
    """More error answers (status, description) on an operation, in the common error shape."""
    for status, description in errors:
        operation["responses"][status] = {
            "description": description,
            "content": {"application/json": {"schema": ERROR}},
        }
    return operation


def _chat_file(operation: dict[str, Any]) -> dict[str, Any]:
    """Chat files: the widget's customer token (header) or the console's session."""
    operation["security"] = [{"widget": []}, {"agent": []}, {"token": []}]
    return _errors(
        operation,
        ("415", "Not a kind of file we take"),
        ("429", "Too many files in this chat"),
    )


# Failed sign-ins are limited per IP (and logins per account), across processes.
TOO_MANY_SIGN_INS = ("429", "Too many failed sign-ins; try again in a few minutes")


PAGE = [
    _query("page", {"type": "integer", "minimum": 1}),
    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}),
]

PATHS: dict[str, dict[str, Any]] = {
    "/api/health": {"get": _op("Liveness and bus health", auth=None, tag="desk")},
    "/api/services": {"get": _op("Services with opening and staffing", auth=None, tag="desk")},
    "/api/services/{service_id}/categories": {
        "get": _op("A service's categories", auth=None, params=[_path_id("service_id")], tag="desk")
    },
    "/api/auth/login": {
        "post": _errors(
            _op(
                "Agent login (sets the session cookie)",
                auth=None,
                body=_body({"email": TEXT, "password": TEXT}, ["email", "password"]),
                tag="auth",
            ),
            TOO_MANY_SIGN_INS,
        )
    },
    "/api/auth/logout": {
        "post": _op("Agent logout; closes the session's sockets", ok=204, tag="auth")
    },
    "/api/auth/me": {"get": _op("The logged-in agent", tag="auth")},
    "/api/surveys/{token}": {
        "post": _op(
            "Answer a satisfaction survey from its signed link",
            auth=None,
            params=[{"name": "token", "in": "path", "required": True, "schema": TEXT}],
            body=_body(
                {"rating": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": TEXT},
                ["rating"],
            ),
            tag="surveys",
        )
    },
    "/api/tickets": {
        "get": _op(
            "Search and filter tickets",
            params=[
                *PAGE,
                _query("status", STATUS),
                _query("service_id", INT),
                _query("priority", PRIORITY),
                _query("agent_id", INT),
                _query("requester_id", INT),
                _query("breached", {"type": "boolean"}),
                _query("q", TEXT),
                _query("tag", TEXT),
                _query("unassigned", {"type": "boolean"}),
            ],
        ),
        "post": _op(
            "Open a ticket for a customer (Alt+T)",
            ok=201,
            body=_body(
                {
                    "requester_email": {"type": "string", "format": "email"},
                    "requester_name": TEXT,
                    "service_id": INT,
                    "subject": TEXT,
                    "message": TEXT,
                    "category_id": INT,
                    "priority": PRIORITY,
                    "request_type": REQUEST_TYPE,
                    "cc": EMAILS,
                    "assign_to_me": {"type": "boolean"},
                    "agent_id": INT,
                },
                ["requester_email", "service_id", "subject", "message"],
            ),
        ),
    },
    "/api/tickets/bulk": {
        "post": _op(
            "Change many tickets, all or nothing",
            body=_body(
                {
                    "ids": {"type": "array", "items": INT, "minItems": 1, "maxItems": 200},
                    "status": STATUS,
                    "reason": REASON,
                    "priority": PRIORITY,
                    "tags": {"type": "array", "items": TEXT},
                    "agent_id": INT,
                },
                ["ids"],
            ),
        )
    },
    "/api/tickets/{ticket_id}": {
        "get": _op("A ticket with thread, history, SLA and allowed actions", params=[TICKET]),
        "patch": _op(
            "Change fields",
            params=[TICKET],
            body=_body(
                {
                    "priority": PRIORITY,
                    "category_id": INT,
                    "request_type": REQUEST_TYPE,
                    "service_id": INT,
                    "subject": TEXT,
                    "tags": {"type": "array", "items": TEXT},
                    "cc": EMAILS,
                }
            ),
        ),
    },
    "/api/tickets/{ticket_id}/status": {
        "post": _op(
            "Change status",
            params=[TICKET],
            body=_body({"status": STATUS, "reason": REASON}, ["status"]),
        )
    },
    "/api/tickets/{ticket_id}/assign": {
        "post": _op(
            "Assign (or unassign with null)",
            params=[TICKET],
            body=_body({"agent_id": {**INT, "nullable": True}}),
        )
    },
    "/api/tickets/{ticket_id}/replies": {
        "post": _op(
            "Public reply or internal note",
            params=[TICKET],
            body=_body(
                {
                    "body": TEXT,
                    "internal": {"type": "boolean"},
                    "status": {"type": "string", "enum": ["open", "pending", "resolved"]},
                },
                ["body"],
            ),
        )
    },
    "/api/tickets/{ticket_id}/merge": {
        "post": _op(
            "Merge this duplicate into another",
            params=[TICKET],
            body=_body({"into_id": INT}, ["into_id"]),
        )
    },
    "/api/tickets/{ticket_id}/attachments": {
        "post": _op("Attach a file", params=[TICKET], body=UPLOAD, ok=201)
    },
    "/api/attachments/{attachment_id}": {
        "get": _op("Download an attachment", params=[_path_id("attachment_id")], tag="tickets")
    },
    "/api/chats/{chat_id}/attachments": {
        "post": _chat_file(
            _op(
                "Send a file in an open chat; both sides get it as a message (chat/chat_files.py)",
                params=[_path_id("chat_id")],
                body=CHAT_UPLOAD,
                ok=201,
                tag="chats",
            )
        )
    },
    "/api/chats/{chat_id}/attachments/{attachment_id}": {
        "get": _chat_file(
            _op(
                "Download a chat's file (its participants only)",
                params=[_path_id("chat_id"), _path_id("attachment_id")],
                tag="chats",
            )
        )
    },
    "/api/portal/session": {
        "post": _errors(
            _op(
                "Portal sign-in with the widget's identity",
                auth=None,
                body=_body({"token": TEXT, "site": TEXT}, ["token"]),
                tag="portal",
            ),
            TOO_MANY_SIGN_INS,
        )
    },
    "/api/portal/link": {
        "post": _errors(
            _op(
                "Portal sign-in with an emailed link",
                auth=None,
                body=_body({"token": TEXT}, ["token"]),
                tag="portal",
            ),
            TOO_MANY_SIGN_INS,
        )
    },
    "/api/portal/logout": {"post": _op("Portal sign-out", auth="customer", ok=204, tag="portal")},
    "/api/portal/me": {"get": _op("The signed-in customer", auth="customer", tag="portal")},
    "/api/portal/counts": {
        "get": _op("How many tickets each panel view holds", auth="customer", tag="portal")
    },
    "/api/portal/tickets": {
        "get": _op(
            "One view of the customer's panel",
            auth="customer",
            tag="portal",
            params=[
                *PAGE,
                _query(
                    "view",
                    {
                        "type": "string",
                        "enum": [
                            "awaiting_my_response",
                            "awaiting_return",
                            "resolved_awaiting_approval",
                            "not_yet_rated",
                            "all",
                        ],
                    },
                ),
            ],
        ),
        "post": _op(
            "Open a ticket",
            auth="customer",
            ok=201,
            tag="portal",
            body=_body(
                {
                    "service_id": INT,
                    "category_id": INT,
                    "subject": TEXT,
                    "message": TEXT,
                    "cc": EMAILS,
                    "request_type": REQUEST_TYPE,
                },
                ["service_id", "subject", "message"],
            ),
        ),
    },
    "/api/portal/tickets/{ticket_id}": {
        "get": _op("One of the customer's tickets", auth="customer", params=[TICKET], tag="portal")
    },
    **{
        f"/api/portal/tickets/{{ticket_id}}/{action}": {
            "post": _op(summary, auth="customer", params=[TICKET], tag="portal", body=body)
        }
        for action, summary, body in [
            ("replies", "Reply", _body({"body": TEXT}, ["body"])),
            ("confirm", "Confirm a resolved ticket", _body({})),
            ("reopen", "Reopen a resolved ticket", _body({})),
            (
                "rate",
                "Rate a resolved or closed ticket",
                _body(
                    {"rating": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": TEXT},
                    ["rating"],
                ),
            ),
            ("approve", "Approve a colleague's ticket (designated contacts)", _body({})),
        ]
    },
    "/api/portal/tickets/{ticket_id}/attachments": {
        "post": _op(
            "Attach a file", auth="customer", params=[TICKET], body=UPLOAD, ok=201, tag="portal"
        )
    },
    "/api/admin/services": {
        "get": _op(
            "Services with hours, SLA targets, inactivity policy and pre-chat form fields",
            tag="admin",
        ),
        "post": _op(
            "Add a service",
            ok=201,
            tag="admin",
            body=_body(
                {
                    "name": TEXT,
                    "description": TEXT,
                    "schedule": JSON_OBJECT,
                    "sla_targets": JSON_OBJECT,
                    "inactivity_policy": JSON_OBJECT,
                    "prechat_fields": PRECHAT_FIELDS,
                    "active": {"type": "boolean"},
                    "position": {"type": "integer"},
                },
                ["name", "schedule"],
            ),
        ),
    },
    "/api/admin/services/{service_id}": {
        "patch": _op(
            "Change a service",
            params=[_path_id("service_id")],
            tag="admin",
            body=_body(
                {
                    "name": TEXT,
                    "description": TEXT,
                    "schedule": JSON_OBJECT,
                    "sla_targets": JSON_OBJECT,
                    "inactivity_policy": JSON_OBJECT,
                    "prechat_fields": PRECHAT_FIELDS,
                    "active": {"type": "boolean"},
                    "position": {"type": "integer"},
                }
            ),
        )
    },
    "/api/admin/services/{service_id}/categories": {
        "post": _op(
            "Add a category",
            ok=201,
            params=[_path_id("service_id")],
            tag="admin",
            body=_body({"name": TEXT}, ["name"]),
        )
    },
    "/api/admin/categories/{category_id}": {
        "patch": _op(
            "Rename or retire a category",
            params=[_path_id("category_id")],
            tag="admin",
            body=_body({"name": TEXT, "active": {"type": "boolean"}}),
        )
    },
    "/api/admin/organizations": {
        "get": _op("Organizations and their designated contacts", tag="admin"),
        "post": _op(
            "Add an organization",
            ok=201,
            tag="admin",
            body=_body(
                {
                    "name": TEXT,
                    "domain": TEXT,
                    "requires_approval": {"type": "boolean"},
                    "contacts": EMAILS,
                },
                ["name", "domain"],
            ),
        ),
    },
    "/api/admin/organizations/{organization_id}": {
        "patch": _op(
            "Change an organization",
            params=[_path_id("organization_id")],
            tag="admin",
            body=_body(
                {
                    "name": TEXT,
                    "domain": TEXT,
                    "requires_approval": {"type": "boolean"},
                    "contacts": EMAILS,
                }
            ),
        )
    },
    "/api/admin/agents": {
        "get": _op("Agents", tag="admin"),
        "post": _op(
            "Add an agent, who signs in with the given password",
            ok=201,
            tag="admin",
            body=_body(
                {
                    "email": TEXT,
                    "name": TEXT,
                    "password": TEXT,
                    "role": {"type": "string", "enum": ["agent", "admin"]},
                    "capacity": {"type": "integer", "minimum": 0, "maximum": 50},
                    "services": {"type": "array", "items": INT},
                },
                ["email", "name", "password"],
            ),
        ),
    },
    "/api/admin/audit": {
        "get": _op("The audit log, newest first", tag="admin", params=[_query("action", TEXT)])
    },
    "/api/admin/tokens": {
        "get": _op("API tokens (never the secret)", tag="admin"),
        "post": _op(
            "Create an API token; the response shows it once",
            ok=201,
            tag="admin",
            body=_body({"name": TEXT}, ["name"]),
        ),
    },
    "/api/admin/tokens/{token_id}": {
        "delete": _op("Revoke an API token", params=[_path_id("token_id")], tag="admin")
    },
    "/api/admin/agents/{agent_id}": {
        "patch": _op(
            "Change an agent's capacity, role, services or name",
            params=[_path_id("agent_id")],
            tag="admin",
            body=_body(
                {
                    "capacity": {"type": "integer", "minimum": 0, "maximum": 50},
                    "name": TEXT,
                    "role": {"type": "string", "enum": ["agent", "admin"]},
                    "active": {"type": "boolean"},
                    "services": {"type": "array", "items": INT},
                }
            ),
        )
    },
    "/api/canned": {
        "get": _op(
            "Canned responses I may use; with chat_id, those fitting that chat, filled in",
            params=[_query("chat_id", INT)],
            tag="console",
        ),
        "post": _op(
            "Add a personal canned response (or, for admins, a shared one)",
            ok=201,
            tag="console",
            body=_body(
                CANNED_FIELDS | {"shared": {"type": "boolean"}}, ["shortcut", "title", "body"]
            ),
        ),
    },
    "/api/canned/{response_id}": {
        "patch": _op(
            "Change a canned response (own personal ones; shared ones for admins)",
            params=[_path_id("response_id")],
            tag="console",
            body=_body(CANNED_FIELDS),
        ),
        "delete": _op(
            "Delete a canned response (own personal ones; shared ones for admins)",
            params=[_path_id("response_id")],
            ok=204,
            tag="console",
        ),
    },
    "/api/chats/{chat_id}/context": {
        "get": _op(
            "The customer beside a chat: details, earlier chats and tickets",
            params=[
                _path_id("chat_id"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 50}),
            ],
            tag="console",
        )
    },
    "/api/agents": {
        "get": _op("Agents with presence and load, to transfer a chat to", tag="console")
    },
    "/api/openapi.json": {"get": _op("This document", auth=None, tag="desk")},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "Chatdesk API",
        "version": "1",
        "description": "Tickets, the customer portal and desk administration. "
        "State-changing calls made with a session cookie need the X-CSRF-Token header "
        "(the chatdesk_csrf / chatdesk_portal_csrf cookie). The websocket protocol is "
        "described in docs/protocol.md.",
    },
    "paths": PATHS,
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": TEXT, "message": TEXT},
            }
        },
        "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"},
            "agent": {"type": "apiKey", "in": "cookie", "name": "chatdesk_session"},
            "customer": {"type": "apiKey", "in": "cookie", "name": "chatdesk_portal"},
            "widget": {"type": "apiKey", "in": "header", "name": "X-Chatdesk-Token"},
        },
    },
}


async def openapi(request: Request) -> Response:
    return JSONResponse(DOCUMENT)


routes = [Route("/api/openapi.json", openapi)]
