"""One matrix, every door: who may read or change what, over HTTP (docs/security.md).

Six people — anonymous, customer A (who owns the ticket), customer B, an agent of
the ticket's service, an agent of another service, and an admin — try every ticket,
portal and admin route. A refusal never says whether the thing exists (404, not 403,
for tickets one may not see).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from chat.models import Chat
from chat.states import ChatState
from tests.support import Customer, LiveDesk, send_file
from tests.ticketing.test_api import agent_http, portal_http
from ticketing.db import transaction

SUPPORT, BILLING = 1, 3
PEOPLE = ("anonymous", "customer_a", "customer_b", "agent_x", "agent_y", "admin")

# route template, method, json body, expected status per person (in PEOPLE order)
AGENT_ONLY_TICKET = (401, 401, 401, 200, 404, 200)
PORTAL_OWNER_ONLY = (401, 200, 404, 401, 401, 401)
ADMIN_ONLY = (401, 401, 401, 403, 403, 200)
ADMIN_CREATES = (401, 401, 401, 403, 403, 201)
EVERYONE = (200, 200, 200, 200, 200, 200)
AGENTS = (401, 401, 401, 200, 200, 200)
AGENTS_CREATE = (401, 401, 401, 201, 201, 201)
MATRIX: list[tuple[str, str, dict[str, object] | None, tuple[int, ...]]] = [
    ("/api/tickets/{t}", "GET", None, AGENT_ONLY_TICKET),
    ("/api/tickets/{t}", "PATCH", {"tags": ["x"]}, AGENT_ONLY_TICKET),
    ("/api/tickets/{t}/replies", "POST", {"body": "hi", "internal": True}, AGENT_ONLY_TICKET),
    ("/api/tickets/{t}/assign", "POST", {"agent_id": None}, AGENT_ONLY_TICKET),
    # Agent X opens it; the admin's "open" is then a no-op, also 200.
    ("/api/tickets/{t}/status", "POST", {"status": "open"}, AGENT_ONLY_TICKET),
    ("/api/portal/tickets/{t}", "GET", None, PORTAL_OWNER_ONLY),
    ("/api/portal/tickets/{t}/replies", "POST", {"body": "more"}, PORTAL_OWNER_ONLY),
    ("/api/portal/tickets/{t}/confirm", "POST", {}, (401, 409, 404, 401, 401, 401)),
    ("/api/admin/services", "GET", None, ADMIN_ONLY),
    ("/api/admin/agents", "GET", None, ADMIN_ONLY),
    ("/api/admin/organizations", "GET", None, ADMIN_ONLY),
    ("/api/admin/services/{s}", "PATCH", {"description": "x"}, ADMIN_ONLY),
    ("/api/admin/agents/{x}", "PATCH", {"capacity": 4}, ADMIN_ONLY),
    (
        "/api/admin/agents",
        "POST",
        {"email": "new@desk.test", "name": "New", "password": "long enough"},
        ADMIN_CREATES,
    ),
    ("/api/admin/widget", "GET", None, ADMIN_ONLY),
    ("/api/admin/widget", "PUT", {"color": "#123456"}, ADMIN_ONLY),
    ("/api/widget/config", "GET", None, EVERYONE),  # the look only, never the sites
    ("/api/portal/tickets", "GET", None, (401, 200, 200, 401, 401, 401)),
    ("/api/tickets", "GET", None, (401, 401, 401, 200, 200, 200)),
    ("/api/auth/me", "GET", None, (401, 401, 401, 200, 200, 200)),
    ("/api/portal/me", "GET", None, (401, 200, 200, 401, 401, 401)),
    # Customer A's chat in Support: its context is for agents who may see that chat.
    ("/api/chats/{c}/context", "GET", None, AGENT_ONLY_TICKET),
    ("/api/canned?chat_id={c}", "GET", None, AGENT_ONLY_TICKET),
    ("/api/canned", "GET", None, AGENTS),
    ("/api/canned", "POST", {"shortcut": "mine", "title": "T", "body": "b"}, AGENTS_CREATE),
    (
        "/api/canned",
        "POST",
        {"shortcut": "x", "title": "T", "body": "b", "shared": True},
        ADMIN_CREATES,
    ),
    # {k}: a shared response the admin made; only admins change it.
    ("/api/canned/{k}", "PATCH", {"title": "New"}, ADMIN_ONLY),
    ("/api/canned/{k}", "DELETE", None, (401, 401, 401, 403, 403, 204)),
    ("/api/agents", "GET", None, AGENTS),
]


@pytest.fixture
async def people(desk: LiveDesk) -> AsyncIterator[dict[str, object]]:
    agent_x = await desk.agent("Xavier", services=[SUPPORT], online=False)
    agent_y = await desk.agent("Yara", services=[BILLING], online=False)
    admin = await desk.agent("Ada", admin=True, online=False)
    a, b = await desk.customer(), await desk.customer()
    async with AsyncExitStack() as stack:
        clients = {
            "anonymous": await stack.enter_async_context(httpx.AsyncClient(base_url=desk.base_url)),
            "customer_a": await stack.enter_async_context(portal_http(desk, a)),
            "customer_b": await stack.enter_async_context(portal_http(desk, b)),
            "agent_x": await stack.enter_async_context(agent_http(desk, agent_x)),
            "agent_y": await stack.enter_async_context(agent_http(desk, agent_y)),
            "admin": await stack.enter_async_context(agent_http(desk, admin)),
        }
        created = await clients["customer_a"].post(
            "/api/portal/tickets",
            json={"service_id": SUPPORT, "subject": "Mine", "message": "private"},
        )
        assert created.status_code == 201
        canned = await clients["admin"].post(
            "/api/canned", json={"shortcut": "hi", "title": "Hi", "body": "Hi!", "shared": True}
        )
        assert canned.status_code == 201
        yield {
            "clients": clients,
            "ticket": created.json()["id"],
            "agent_x": agent_x.agent.id,
            "chat": await _chat_of(desk, a),
            "canned": canned.json()["id"],
        }


async def _chat_of(desk: LiveDesk, customer: Customer) -> int:
    """A chat of the customer's in Support, as if it had ended (no agent need be online)."""
    customer_id = desk.runtime.tokens.verify(customer.token, desk.origin)
    assert customer_id is not None
    async with transaction(desk.runtime.sessions) as session:
        chat = Chat(customer_id=customer_id, service_id=SUPPORT, state=ChatState.ENDED)
        session.add(chat)
        await session.flush()
        return chat.id


@pytest.mark.parametrize(
    ("route", "method", "body", "expected"), MATRIX, ids=[f"{m} {r}" for r, m, _, _ in MATRIX]
)
async def test_who_may_do_what(
    people: dict[str, object],
    route: str,
    method: str,
    body: dict[str, object] | None,
    expected: tuple[int, ...],
) -> None:
    clients = people["clients"]
    assert isinstance(clients, dict)
    path = route.format(
        t=people["ticket"], s=SUPPORT, x=people["agent_x"], c=people["chat"], k=people["canned"]
    )
    got = []
    for person in PEOPLE:
        response = await clients[person].request(method, path, json=body)
        got.append(response.status_code)
        if response.status_code >= 400:
            assert response.json()["code"], (person, path)  # always a stable code
    assert tuple(got) == expected, dict(zip(PEOPLE, got, strict=True))


async def test_lists_show_exactly_the_tickets_each_person_may_see(
    people: dict[str, object],
) -> None:
    clients = people["clients"]
    assert isinstance(clients, dict)
    ticket = people["ticket"]
    seen = {}
    for person in ("agent_x", "agent_y", "admin"):
        items = (await clients[person].get("/api/tickets")).json()["items"]
        seen[person] = ticket in [t["id"] for t in items]
    for person in ("customer_a", "customer_b"):
        items = (await clients[person].get("/api/portal/tickets")).json()["items"]
        seen[person] = ticket in [t["id"] for t in items]
    assert seen == {
        "agent_x": True,
        "agent_y": False,
        "admin": True,
        "customer_a": True,
        "customer_b": False,
    }


# --- files in a chat (chat/chat_files.py) ---------------------------------------------
# Customers prove who they are with the widget's token (a header), agents with the
# console session; only the chat's own people (and admins) get through.
CHAT_FILE_UPLOAD = (401, 201, 404, 201, 404, 201)
CHAT_FILE_DOWNLOAD = (401, 200, 404, 200, 404, 200)


async def test_who_may_send_and_fetch_a_chats_files(desk: LiveDesk) -> None:
    agent_x = await desk.agent("Xavier", services=[SUPPORT])
    agent_y = await desk.agent("Yara", services=[BILLING], online=False)
    admin = await desk.agent("Ada", admin=True, online=False)
    a, b = await desk.customer(), await desk.customer()
    chat = await agent_x.take(a, service_id=SUPPORT)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    async with AsyncExitStack() as stack:
        clients = {
            "anonymous": await stack.enter_async_context(httpx.AsyncClient(base_url=desk.base_url)),
            "customer_a": await stack.enter_async_context(a.http()),
            "customer_b": await stack.enter_async_context(b.http()),
            "agent_x": await stack.enter_async_context(agent_x.http()),
            "agent_y": await stack.enter_async_context(agent_y.http()),
            "admin": await stack.enter_async_context(admin.http()),
        }
        uploads, downloads = [], []
        url = ""
        for person in PEOPLE:
            sent = await send_file(clients[person], chat["id"], png, f"{person}.png")
            uploads.append(sent.status_code)
            if sent.status_code == 201:
                url = sent.json()["attachment"]["url"]
            else:
                assert sent.json()["code"], person
        for person in PEOPLE:
            got = await clients[person].get(url)
            downloads.append(got.status_code)
            if got.status_code >= 400:
                assert got.json()["code"], person
    assert tuple(uploads) == CHAT_FILE_UPLOAD, dict(zip(PEOPLE, uploads, strict=True))
    assert tuple(downloads) == CHAT_FILE_DOWNLOAD, dict(zip(PEOPLE, downloads, strict=True))
