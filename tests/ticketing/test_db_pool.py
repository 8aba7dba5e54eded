"""The PostgreSQL pool pings a connection only after it sat idle (ticketing/db.py).

PostgreSQL only: SQLite has no server whose restart leaves dead connections in a pool.
A backend killed with `pg_terminate_backend` stands in for a restart; only this test's
own connection is killed, never the shared server.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import exc, text

from tests.conftest import Backend
from ticketing import db


async def _backend_pid(engine: object) -> int:
    async with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


def _count_pings(engine: object, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    dialect = engine.dialect  # type: ignore[attr-defined]
    pings: list[object] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return bool(ping(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


async def _terminate(url: str, pid: int) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()


async def test_an_idle_connection_killed_by_the_server_is_replaced_without_an_error(
    shared_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.2)
    engine = db.create_engine(shared_backend.database_url)
    pings = _count_pings(engine, monkeypatch)
    try:
        killed = await _backend_pid(engine)
        assert pings == []  # a new connection needs no ping
        await _terminate(shared_backend.database_url, killed)
        await asyncio.sleep(0.3)  # longer than the idle threshold: pinged at checkout
        replacement = await _backend_pid(engine)
        assert replacement != killed and len(pings) == 1
    finally:
        await engine.dispose()


async def test_a_connection_back_in_use_at_once_is_not_pinged(
    shared_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping on a hot connection (the point: a round trip saved per transaction); a
    connection that died meanwhile fails that one use, then the pool reconnects."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = db.create_engine(shared_backend.database_url)
    pings = _count_pings(engine, monkeypatch)
    try:
        killed = await _backend_pid(engine)
        assert await _backend_pid(engine) == killed  # the same connection, reused
        assert pings == []

        await _terminate(shared_backend.database_url, killed)
        with pytest.raises(exc.DBAPIError) as failed:
            await _backend_pid(engine)
        assert failed.value.connection_invalidated
        assert await _backend_pid(engine) != killed
    finally:
        await engine.dispose()


async def test_a_hot_connection_put_in_doubt_is_pinged_and_replaced(
    shared_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the transcript writer does when its own connection is lost: the pool's
    connections, however recently used, are pinged once before their next use."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = db.create_engine(shared_backend.database_url)
    pings = _count_pings(engine, monkeypatch)
    try:
        killed = await _backend_pid(engine)
        await _terminate(shared_backend.database_url, killed)
        db.doubt_connections(engine)
        replacement = await _backend_pid(engine)  # no error: pinged, found dead, replaced
        assert replacement != killed and len(pings) == 1
        assert await _backend_pid(engine) == replacement and len(pings) == 1  # once only
    finally:
        await engine.dispose()


async def test_a_rush_keeps_its_connections_instead_of_opening_and_closing_them(
    shared_backend: Backend,
) -> None:
    """More sessions at once than a small pool holds: every connection opened for the rush
    is kept for the next one (a pool with "overflow" closed them again at each checkin,
    and reopened them on the next rush: connect, SSL probe, cold statement cache)."""
    engine = db.create_engine(shared_backend.database_url)
    backends: list[set[int]] = []

    async def one() -> int:
        async with engine.connect() as connection:
            pid = int(await connection.scalar(text("SELECT pg_backend_pid()")))
            await asyncio.sleep(0.05)  # all of them at once
            return pid

    try:
        for _ in range(2):
            backends.append(set(await asyncio.gather(*(one() for _ in range(25)))))
        assert len(backends[0]) == 25
        assert backends[1] == backends[0]  # the same 25 backends served the second rush
        assert engine.pool.checkedin() == 25  # type: ignore[attr-defined]
        assert engine.pool.size() == db.POOL_SIZE  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
