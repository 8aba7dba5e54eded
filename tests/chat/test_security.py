"""Verified identities, API tokens and the audit log (docs/security.md)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

import chat.auth
from chat.auth import hash_password, verify_password
from chat.identity import identity_hash
from chat.models import ApiToken, AuditEntry
from tests.conftest import Backend
from tests.support import Customer, LiveDesk, start_desk
from tests.ticketing.test_api import agent_http

SECRET = "host-site-secret-0123456789"


@pytest.fixture
async def verified_desk(backend: Backend, bus_prefix: str) -> AsyncIterator[LiveDesk]:
    async with start_desk(
        backend.database_url,
        backend.redis_url,
        bus_prefix,
        identity_secret=SECRET,
        identity_required=True,
    ) as live:
        yield live


def signed(desk: LiveDesk, identifier: str, age: int = 0) -> dict[str, object]:
    at = int(desk.clock.now().timestamp()) - age
    return {
        "identifier": identifier,
        "timestamp": at,
        "name": "Ana Souza",
        "email": "ana@shop.example",
        "hash": identity_hash(SECRET, identifier, at),
    }


async def _hello(desk: LiveDesk, user: object, token: str | None = None) -> Customer:
    person = Customer(desk, token)
    await person.open()
    await person.send({"type": "hello", "token": token, "user": user})
    person.token = (await person.expect("welcome"))["token"]
    return person


async def test_a_verified_visitor_is_the_same_customer_on_every_device(
    verified_desk: LiveDesk,
) -> None:
    desk = verified_desk
    await desk.agent("Bea")
    laptop = await _hello(desk, signed(desk, "shop-user-7"))
    welcome = laptop.seen("welcome")[0]
    assert welcome["customer"]["name"] == "Ana Souza"
    chat = await laptop.start_chat(message="from my laptop")
    phone = await _hello(desk, signed(desk, "shop-user-7"))  # no token, another device
    assert phone.seen("welcome")[0]["chat"]["id"] == chat["id"]


@pytest.mark.parametrize("problem", ["stale", "forged", "missing"])
async def test_unverified_visitors_cannot_chat_or_see_history_when_required(
    verified_desk: LiveDesk, problem: str
) -> None:
    desk = verified_desk
    await desk.agent("Bea")
    owner = await _hello(desk, signed(desk, "shop-user-8"))
    await owner.start_chat(message="private order details")
    user: object = {
        "stale": signed(desk, "shop-user-8", age=301),  # a hash copied from a page earlier
        "forged": {**signed(desk, "shop-user-8"), "hash": "0" * 64},
        "missing": None,
    }[problem]
    eve = await _hello(desk, user, token=owner.token if problem == "missing" else None)
    assert eve.seen("welcome")[0]["chat"] is None
    for frame in (
        {"type": "start_chat", "service_id": 1, "name": "Eve", "message": "hi"},
        {"type": "fetch", "after_seq": 0},
        {
            "type": "leave_message",
            "service_id": 1,
            "name": "Eve",
            "email": "e@x.io",
            "message": "hi",
        },
    ):
        await eve.send(frame)
        error = await eve.expect("error")
        assert error["code"] in ("identity_required", "no_open_chat"), error
    await eve.expect_nothing("message")


async def test_api_tokens_act_as_their_admin_without_csrf_and_can_be_revoked(
    desk: LiveDesk,
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with agent_http(desk, admin) as http:
        made = await http.post("/api/admin/tokens", json={"name": "CRM sync"})
        assert made.status_code == 201
        token, token_id = made.json()["token"], made.json()["id"]
        listed = (await http.get("/api/admin/tokens")).json()["items"]
        assert "token" not in listed[0] and listed[0]["prefix"] == token[:12]
    async with desk.runtime.sessions() as session:
        stored = await session.get(ApiToken, token_id)
    assert stored is not None and token not in (stored.token_hash, stored.prefix)
    bearer = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=desk.base_url, headers=bearer) as api:
        assert (await api.get("/api/tickets")).status_code == 200
        changed = await api.patch("/api/admin/services/1", json={"description": "24/7"})
        assert changed.status_code == 200  # no cookie, so no CSRF token needed
    async with agent_http(desk, admin) as http:
        assert (await http.delete(f"/api/admin/tokens/{token_id}")).status_code == 200
    async with httpx.AsyncClient(base_url=desk.base_url, headers=bearer) as api:
        revoked = await api.get("/api/tickets")
        assert revoked.status_code == 401 and "revoked" in revoked.json()["message"]


async def test_security_relevant_actions_each_leave_one_audit_row(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)  # one login
    bea = await desk.agent("Bea", online=False)  # another login
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        await http.post("/api/auth/login", json={"email": bea.agent.email, "password": "no"})
    async with agent_http(desk, admin) as http:
        await http.patch(f"/api/admin/agents/{bea.agent.id}", json={"role": "admin"})
        await http.patch("/api/admin/services/1", json={"description": "x"})
        made = (await http.post("/api/admin/tokens", json={"name": "n"})).json()
        token_id = made["id"]
        await http.delete(f"/api/admin/tokens/{token_id}")
        log = (await http.get("/api/admin/audit")).json()["items"]
        await http.post("/api/auth/logout")
    async with desk.runtime.sessions() as session:
        actions = list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == [
        "login",
        "login",
        "login_failed",
        "agent_changed",
        "settings_changed",
        "token_created",
        "token_revoked",
        "logout",
    ]
    failed = next(e for e in log if e["action"] == "login_failed")
    assert failed["actor_name"] == bea.agent.email and failed["ip"] == "127.0.0.1"
    role = next(e for e in log if e["action"] == "agent_changed")
    assert role["details"] == {"role": "admin"} and role["actor_id"] == admin.agent.id
    # Tokens are named by their short prefix; the secret itself is never logged.
    assert made["token"] not in str(log) and made["prefix"] in str(log)


async def test_passwords_are_hashed_and_checked_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """argon2 takes tens of milliseconds by design: on the loop, each login held every
    chat of the process that long."""
    real = chat.auth._hasher
    threads: list[threading.Thread] = []

    class Watched:
        def hash(self, password: str) -> str:
            threads.append(threading.current_thread())
            return real.hash(password)

        def verify(self, password_hash: str, password: str) -> bool:
            threads.append(threading.current_thread())
            return real.verify(password_hash, password)

    monkeypatch.setattr(chat.auth, "_hasher", Watched())
    stored = await hash_password("correct horse battery")
    assert await verify_password(stored, "correct horse battery")
    assert not await verify_password(stored, "wrong horse battery")
    assert len(threads) == 3 and threading.current_thread() not in threads
