"""Floods stop at the edge: logins, messages per chat, new chats per IP, body sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from chat.settings import InsecureSettings, Settings
from tests.conftest import Backend
from tests.support import LiveDesk, start_desk


@pytest.fixture
async def tight_desk(backend: Backend, bus_prefix: str) -> AsyncIterator[LiveDesk]:
    async with start_desk(
        backend.database_url,
        backend.redis_url,
        bus_prefix,
        rate_chat_messages_per_minute=5,
        rate_new_chats_per_ip_per_hour=2,
        login_failures_allowed=3,
        max_body_bytes=4096,
    ) as live:
        yield live


async def leave_messages(desks: Sequence[LiveDesk], allowed: int) -> None:
    """One new customer per desk leaves a message, all from this machine's one IP: the
    first `allowed` become tickets, the rest are refused as too many chats."""
    for n, desk in enumerate(desks):
        person = await desk.customer()
        await person.send(
            {
                "type": "leave_message",
                "service_id": 1,
                "name": f"P{n}",
                "email": f"p{n}@example.com",
                "message": "hi",
            }
        )
        if n < allowed:
            await person.expect("ticket_created")
        else:
            assert (await person.expect("error"))["code"] == "too_many_chats"


async def test_failed_logins_are_limited_per_account_and_per_ip(tight_desk: LiveDesk) -> None:
    desk = tight_desk
    agent, password = await desk.add_agent("Bea")
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        for _ in range(3):
            wrong = await http.post(
                "/api/auth/login", json={"email": agent.email, "password": "guess"}
            )
            assert wrong.status_code == 401
        blocked = await http.post(
            "/api/auth/login", json={"email": agent.email, "password": password}
        )
        assert blocked.status_code == 429 and blocked.json()["code"] == "too_many_attempts"
        other, other_password = await desk.add_agent("Carl")
        same_ip = await http.post(
            "/api/auth/login", json={"email": other.email, "password": other_password}
        )
        assert same_ip.status_code == 429  # the IP is blocked too
    await desk.runtime.limits.login_per_ip.forget("127.0.0.1")  # another network, same account
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        account = await http.post(
            "/api/auth/login", json={"email": agent.email, "password": password}
        )
        assert account.status_code == 429


async def test_a_chat_flooded_with_messages_gets_rate_limited(tight_desk: LiveDesk) -> None:
    desk = tight_desk
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    codes = []
    for n in range(8):
        await ana.send({"type": "message", "client_id": f"m{n}", "body": f"spam {n}"})
        frame = await (ana.stored(f"m{n}") if n < 5 else ana.expect("error"))
        codes.append(frame.get("code", "stored"))
    assert codes == ["stored"] * 5 + ["rate_limited"] * 3
    await bea.send({"type": "message", "chat_id": chat["id"], "client_id": "b", "body": "x"})
    assert (await bea.expect("error"))["code"] == "rate_limited"  # the chat, both sides


async def test_new_chats_per_network_are_limited(tight_desk: LiveDesk) -> None:
    await leave_messages([tight_desk] * 3, allowed=2)


async def test_request_bodies_over_the_limit_get_413(tight_desk: LiveDesk) -> None:
    async with httpx.AsyncClient(base_url=tight_desk.base_url) as http:
        declared = await http.post(
            "/api/auth/login", content=b"x" * 5000, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413 and declared.json()["code"] == "body_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"y" * 1000

        streamed = await http.post("/api/auth/login", content=chunks())
        assert streamed.status_code == 413


def test_the_development_secret_is_refused_off_loopback() -> None:
    local = Settings.from_env({}, host="127.0.0.1", secret_key="dev-insecure-abc")
    local.check_production_safety()  # fine for `make run`
    for settings in (
        Settings.from_env({}, host="0.0.0.0", secret_key="dev-insecure-abc"),
        Settings.from_env(
            {}, host="127.0.0.1", environment="production", secret_key="dev-insecure-abc"
        ),
        Settings.from_env({}, host="0.0.0.0", secret_key="short"),
    ):
        with pytest.raises(InsecureSettings):
            settings.check_production_safety()
    Settings.from_env({}, host="0.0.0.0", secret_key="k" * 40).check_production_safety()
