"""The floor server (bench/floor_relay.py) does the work it claims to: the ratio it gives
issue 3 is only worth something if every message it relays was parsed, stored once
before delivery, and carried through Redis to both sides."""

from __future__ import annotations

import asyncio
import json
import random

import asyncpg
import pytest
from websockets.asyncio.client import ClientConnection, connect

from bench.loadgen import FloorDriver
from bench.server import FloorServer
from tests.conftest import REDIS_URL, _pg_admin, _pg_url_for, _redis_ok, service_missing

FRAME_TIMEOUT = 5.0


@pytest.fixture
async def floor_database(worker_name: str) -> str:
    name = f"floor_test_{worker_name}"
    try:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any failure: PostgreSQL is not there
        service_missing(f"PostgreSQL not reachable: {exc}")
    yield _pg_url_for(name)
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _join(url: str, pair: int, role: str) -> ClientConnection:
    ws = await connect(url, compression=None)
    await ws.send(json.dumps({"pair": pair, "role": role}))
    return ws


async def _next(ws: ClientConnection) -> dict[str, object]:
    return json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT))


async def test_a_message_is_stored_once_then_reaches_both_sides_through_redis(
    floor_database: str,
) -> None:
    if not await _redis_ok():
        service_missing(f"Redis not reachable at {REDIS_URL}")
    pair = random.randrange(10**6, 10**9)  # a channel of its own on a shared Redis
    async with FloorServer(database_url=floor_database, redis_url=REDIS_URL) as floor:
        customer = await _join(floor.ws_url, pair, "customer")
        agent = await _join(floor.ws_url, pair, "agent")
        # Frames are handled in order per socket: once this reaches the customer, the
        # agent has joined (and the pair's Redis subscription, made by the first, holds).
        await agent.send(json.dumps({"type": "assigned", "chat_id": pair}))
        assert await _next(customer) == {"type": "assigned", "chat_id": pair}

        frame = {"type": "message", "client_id": "c-1", "sender": "customer", "body": "Hallo"}
        await customer.send(json.dumps(frame))
        await customer.send(json.dumps(frame))  # a resend: stored and shown once
        await agent.send(json.dumps({**frame, "client_id": "a-1", "sender": "agent"}))

        to_agent = [await _next(agent), await _next(agent)]
        to_customer = [await _next(customer), await _next(customer)]
        assert to_agent == to_customer  # both sides, in one order (the two sockets' frames
        # may be stored in either)
        assert sorted((m["sender"], m["client_id"]) for m in to_agent) == [
            ("agent", "a-1"),
            ("customer", "c-1"),
        ]
        assert all(m["chat_id"] == pair and m["body"] == "Hallo" for m in to_agent)
        db = await asyncpg.connect(floor_database)
        try:
            stored = await db.fetch(
                "SELECT id, sender, client_id FROM bench_floor_messages ORDER BY id"
            )
        finally:
            await db.close()
        assert [(r["client_id"], r["id"]) for r in stored] == [
            (m["client_id"], m["seq"]) for m in to_agent
        ]
        with pytest.raises(TimeoutError):  # the resend is not delivered again
            await asyncio.wait_for(customer.recv(), 0.5)
        await customer.close()
        await agent.close()


def test_the_generator_counts_the_echo_as_a_confirmation_not_a_delivery() -> None:
    delivered: list[tuple[str, str]] = []

    class Gen:
        def delivered(self, client_id: str, side: str, t: float) -> None:
            delivered.append((client_id, side))

    driver = FloorDriver("ws://127.0.0.1:9", None)
    driver.gen = Gen()  # type: ignore[assignment]
    echo = {"type": "message", "client_id": "c-1", "sender": "customer"}
    reply = {"type": "message", "client_id": "a-1", "sender": "agent"}
    driver._customer_frame(None, echo, 0.0)  # type: ignore[arg-type]
    driver._customer_frame(None, reply, 0.0)  # type: ignore[arg-type]
    driver._agent_frame(None, reply, 0.0)  # type: ignore[arg-type]
    driver._agent_frame(None, echo, 0.0)  # type: ignore[arg-type]
    assert delivered == [("a-1", "customer"), ("c-1", "agent")]
