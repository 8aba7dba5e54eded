"""Fixtures shared by the whole suite: real databases, real buses, real servers.

Every storage and hub test runs twice: on SQLite with the in-process bus, and on
PostgreSQL with Redis (the two deployments we support). Services come from
TEST_DATABASE_URL / TEST_REDIS_URL; when one is missing the test is skipped with
the reason, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Cheap password hashing for the hundreds of throwaway agents tests create
# (set before chat.auth is imported; production keeps argon2's defaults).
os.environ.setdefault("CHATDESK_TEST_FAST_HASHING", "1")

from chat.migrate import upgrade  # noqa: E402
from tests.support import LiveDesk, start_desk  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def service_missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: every service must be there)")
    pytest.skip(reason)


def _pg_url_for(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    url = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _redis_ok() -> bool:
    import redis.asyncio as redis

    client = redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        return bool(await client.ping())
    except (OSError, redis.RedisError):
        return False
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def worker_name(request: pytest.FixtureRequest) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return f"{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once per worker; each test gets a copy of this file."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database(worker_name: str) -> Iterator[str | None]:
    """One migrated database per test worker, dropped at the end."""
    name = f"chatdesk_test_{worker_name}"
    try:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError, Exception) as exc:  # noqa: BLE001 - any failure = absent
        yield f"!PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
        return
    url = _pg_url_for(name)
    upgrade(url)
    yield url
    try:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:  # noqa: BLE001 - cleanup only
        pass


def _all_tables() -> str:
    import chat.models  # noqa: F401  (registers the chat tables)
    import ticketing.outbox  # noqa: F401  (registers the outbox tables)
    from ticketing.db import Base

    return ", ".join(t.name for t in Base.metadata.sorted_tables)


async def _reset_postgres(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f"TRUNCATE {_all_tables()} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@dataclass(frozen=True)
class Backend:
    """Where one test's data and events live."""

    name: str
    database_url: str
    redis_url: str | None

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


@pytest.fixture(params=["sqlite+memory", "postgresql+redis"])
async def backend(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_database: str | None,
) -> AsyncIterator[Backend]:
    if request.param == "sqlite+memory":
        path = tmp_path / "desk.db"
        shutil.copy(sqlite_template, path)
        yield Backend(request.param, f"sqlite+aiosqlite:///{path}", None)
        return
    yield await _shared_backend(postgres_database)


async def _shared_backend(postgres_database: str | None) -> Backend:
    if postgres_database is None or postgres_database.startswith("!"):
        service_missing((postgres_database or "!PostgreSQL missing")[1:])
    if not await _redis_ok():
        service_missing(f"Redis not reachable at {REDIS_URL}")
    assert postgres_database is not None
    await _reset_postgres(postgres_database)
    return Backend("postgresql+redis", postgres_database, REDIS_URL)


@pytest.fixture
async def shared_backend(postgres_database: str | None) -> Backend:
    """PostgreSQL and Redis only: what several processes share."""
    return await _shared_backend(postgres_database)


@pytest.fixture
def bus_prefix() -> str:
    """A prefix of our own, so parallel workers sharing one Redis never cross."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def desk(backend: Backend, bus_prefix: str) -> AsyncIterator[LiveDesk]:
    """A running Chatdesk server on a free loopback port, with a clock the test moves."""
    async with start_desk(backend.database_url, backend.redis_url, bus_prefix) as live:
        yield live


@pytest.fixture
async def sessions(backend: Backend) -> AsyncIterator[object]:
    """A session factory on the test's database, with the default services seeded."""
    from chat.seed import seed_services
    from ticketing.db import create_engine, create_sessionmaker, transaction

    engine = create_engine(backend.database_url)
    factory = create_sessionmaker(engine)
    async with transaction(factory) as session:
        await seed_services(session)
    try:
        yield factory
    finally:
        await engine.dispose()
