"""Migrations run on both dialects, on empty desks and on desks that already have data."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import chat.models  # noqa: F401  (registers the chat tables)
from chat.migrate import alembic_config, upgrade
from tests.conftest import PG_ADMIN_URL, _pg_admin, _pg_url_for, service_missing
from ticketing.db import Base, create_engine

SEED = [
    "INSERT INTO services (id, name, description, schedule, active, position, created_at) "
    "VALUES (1, 'Support', '', '{}', true, 0, CURRENT_TIMESTAMP)",
    "INSERT INTO customers (id, name, lang, created_at) VALUES (1, 'Ana', 'en', CURRENT_TIMESTAMP)",
    "INSERT INTO tickets (id, subject, service_id, requester_id, status, priority, origin, "
    "created_at, updated_at) VALUES (1, 'Invoice', 1, 1, 'new', 'P3', 'chat', "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
]


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"chatdesk_migrations_{uuid.uuid4().hex[:8]}"
    try:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001 - any failure means the service is absent
        service_missing(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    yield _pg_url_for(name)
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    rows: list[tuple[object, ...]] = []
    try:
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                if result.returns_rows:
                    rows = [tuple(r) for r in result.all()]
    finally:
        await engine.dispose()
    return rows


async def _schema_drift(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()


async def test_an_existing_desk_upgrades_with_its_tickets_intact(empty_database: str) -> None:
    await asyncio.to_thread(upgrade, empty_database, "0001")
    await _execute(empty_database, *SEED)
    await asyncio.to_thread(upgrade, empty_database)
    rows = await _execute(
        empty_database, "SELECT id, subject, reminders_sent, awaiting_approval FROM tickets"
    )
    assert rows == [(1, "Invoice", 0, False)]


async def test_the_migrated_schema_matches_the_models(empty_database: str) -> None:
    await asyncio.to_thread(upgrade, empty_database)
    assert await _schema_drift(empty_database) == []


async def test_downgrade_and_upgrade_again(empty_database: str) -> None:
    await asyncio.to_thread(upgrade, empty_database)
    config = alembic_config(empty_database)
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(upgrade, empty_database)
    assert await _schema_drift(empty_database) == []
