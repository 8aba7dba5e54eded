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

from tests.support import LiveDesk
from tests.ticketing.test_api import agent_http, portal_http

SUPPORT, BILLING = 1, 3
PEOPLE = ("anonymous", "customer_a", "customer_b", "agent_x", "agent_y", "admin")

# route template, method, json body, expected status per person (in PEOPLE order)
AGENT_ONLY_TICKET = (401, 401, 401, 200, 404, 200)
PORTAL_OWNER_ONLY = (401, 200, 404, 401, 401, 401)
ADMIN_ONLY = (401, 401, 401, 403, 403, 200)
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
    ("/api/portal/tickets", "GET", None, (401, 200, 200, 401, 401, 401)),
    ("/api/tickets", "GET", None, (401, 401, 401, 200, 200, 200)),
    ("/api/auth/me", "GET", None, (401, 401, 401, 200, 200, 200)),
    ("/api/portal/me", "GET", None, (401, 200, 200, 401, 401, 401)),
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
        yield {"clients": clients, "ticket": created.json()["id"], "agent_x": agent_x.agent.id}


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
    path = route.format(t=people["ticket"], s=SUPPORT, x=people["agent_x"])
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
