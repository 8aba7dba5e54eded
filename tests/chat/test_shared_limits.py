"""Limits hold across processes: two app instances joined by Redis share one allowance.

Spreading login guesses, new chats or portal sign-in attempts over several web
processes must not multiply what an attacker gets (docs/security.md, "Limits").
"""

from __future__ import annotations

import httpx

from tests.chat.test_limits import leave_messages
from tests.conftest import Backend
from tests.support import start_two_desks


async def test_failed_logins_spread_over_two_instances_are_counted_together(
    shared_backend: Backend, bus_prefix: str
) -> None:
    async with start_two_desks(
        shared_backend.database_url, shared_backend.redis_url, bus_prefix, login_failures_allowed=5
    ) as (one, two):
        agent, password = await one.add_agent("Bea")
        desks = [one, two, one, two, one]  # 3 + 2: each alone is under the limit of 5
        for desk in desks:
            async with httpx.AsyncClient(base_url=desk.base_url) as http:
                wrong = await http.post(
                    "/api/auth/login", json={"email": agent.email, "password": "guess"}
                )
                assert wrong.status_code == 401
        for desk in (one, two):
            async with httpx.AsyncClient(base_url=desk.base_url) as http:
                right = await http.post(
                    "/api/auth/login", json={"email": agent.email, "password": password}
                )
                assert right.status_code == 429, desk.base_url
                assert right.json()["code"] == "too_many_attempts"


async def test_new_chats_per_ip_spread_over_two_instances_are_counted_together(
    shared_backend: Backend, bus_prefix: str
) -> None:
    async with start_two_desks(
        shared_backend.database_url,
        shared_backend.redis_url,
        bus_prefix,
        rate_new_chats_per_ip_per_hour=2,
    ) as (one, two):
        await leave_messages([one, two, one, two], allowed=2)


async def test_portal_sign_in_guesses_spread_over_two_instances_are_counted_together(
    shared_backend: Backend, bus_prefix: str
) -> None:
    async with start_two_desks(
        shared_backend.database_url, shared_backend.redis_url, bus_prefix, login_failures_allowed=3
    ) as (one, two):
        for desk in (one, two, one):
            async with httpx.AsyncClient(base_url=desk.base_url) as http:
                guess = await http.post("/api/portal/link", json={"token": "not-a-link"})
                assert guess.status_code == 400
        for desk in (two, one):
            async with httpx.AsyncClient(base_url=desk.base_url) as http:
                blocked = await http.post("/api/portal/session", json={"token": "forged"})
                assert blocked.status_code == 429
                assert blocked.json()["code"] == "too_many_attempts"
