"""The group-commit writer's two storage paths, and what the SQLite one relies on.

On SQLite the writer stores batches through its own `sqlite3` connection on its own
thread (chat/transcripts.py, `SqliteWriter`). These tests pin that it stores exactly
what the async path stores, and the two facts about the app's engine it relies on:
WAL (readers see the writer's commits) and transactions that begin at the first write
(so no read snapshot of the engine can be invalidated by the writer's commit).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from chat.errors import ChatClosed
from chat.models import Chat, ChatMessage
from chat.seed import seed_services
from chat.states import ChatState
from chat.transcripts import NewMessage, SqliteWriter, append_batch, messages_after
from ticketing.db import create_engine, create_sessionmaker, transaction
from ticketing.models import Customer

NOW = dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Any:
    path = tmp_path / "writer.db"
    shutil.copy(sqlite_template, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sessions = create_sessionmaker(engine)
    async with transaction(sessions) as session:
        await seed_services(session)
        customer = Customer(name="Ana")
        session.add(customer)
        await session.flush()
        chats = [
            Chat(
                customer_id=customer.id,
                service_id=1,
                state=state,
                queued_at=NOW,
                created_at=NOW,
                last_customer_activity_at=NOW - dt.timedelta(minutes=5),
                declined_agent_ids=[],
            )
            for state in (ChatState.ACTIVE, ChatState.ACTIVE, ChatState.ENDED)
        ]
        session.add_all(chats)
        await session.flush()
        ids = [c.id for c in chats]
    try:
        yield engine, sessions, ids
    finally:
        await engine.dispose()


def _messages(chat_id: int) -> list[NewMessage]:
    return [
        NewMessage(chat_id, "customer", 1, "Ana", "hello", "c1"),
        NewMessage(chat_id, "agent", 2, "Bea", "hi", "a1"),
        NewMessage(chat_id, "customer", 1, "Ana", "hello again", "c1"),  # repeat in batch
        NewMessage(chat_id, "system", None, "", "Bea joined", None, {"key": "k", "params": {}}),
    ]


def _row(r: ChatMessage) -> tuple[Any, ...]:
    return (r.seq, r.sender, r.sender_id, r.author_name, r.body, r.client_id, r.i18n, r.created_at)


async def test_the_sqlite_writer_stores_what_the_async_path_stores(sqlite_db: Any) -> None:
    engine, sessions, (async_chat, thread_chat, ended_chat) = sqlite_db
    writer = SqliteWriter.for_engine(engine)
    assert writer is not None
    try:
        async with transaction(sessions) as session:
            by_session = await append_batch(session, _messages(async_chat), NOW)
        by_thread = await writer.append(_messages(thread_chat), NOW)
        # A resend of a stored client id is answered with the stored row, not stored again.
        again = await writer.append([NewMessage(thread_chat, "agent", 2, "Bea", "x", "a1")], NOW)
        closed = await writer.append([NewMessage(ended_chat, "agent", 2, "Bea", "x", "a2")], NOW)
    finally:
        await writer.close()

    def shape(results: list[Any]) -> list[Any]:
        return [
            r if isinstance(r, ChatClosed) else (r[0].seq, r[0].body, r[0].created_at, r[1])
            for r in results
        ]

    assert shape(by_thread) == shape(by_session)
    assert [(r[0].seq, r[1]) for r in again] == [(2, False)]
    assert [type(r) for r in closed] == [ChatClosed]
    async with sessions() as session:
        stored_async = [_row(r) for r in await messages_after(session, async_chat, 0)]
        stored_thread = [_row(r) for r in await messages_after(session, thread_chat, 0)]
        chats = {c.id: c for c in await session.scalars(select(Chat))}
    assert stored_thread == stored_async
    assert stored_thread[0][-1] == NOW and stored_thread[2][-2] == {"key": "k", "params": {}}
    assert chats[thread_chat].last_seq == chats[async_chat].last_seq == 3
    assert chats[thread_chat].last_customer_activity_at == NOW
    assert chats[ended_chat].last_seq == 0


async def test_the_engine_opens_its_write_transaction_at_the_first_write(sqlite_db: Any) -> None:
    """What makes a second writer connection safe: a transaction of the app's engine that
    read before the writer committed still writes (no stale snapshot, no 'database is
    locked'), and sees the writer's rows."""
    engine, sessions, (chat_id, _, _) = sqlite_db
    writer = SqliteWriter.for_engine(engine)
    assert writer is not None
    try:
        async with transaction(sessions) as session:
            before = await session.scalar(select(Chat.last_seq).where(Chat.id == chat_id))
            await writer.append([NewMessage(chat_id, "agent", 2, "Bea", "hi", "a1")], NOW)
            seen = await session.scalar(select(Chat.last_seq).where(Chat.id == chat_id))
            await session.execute(update(Chat).where(Chat.id == chat_id).values(subject="x"))
        async with sessions() as session:
            mode = await session.scalar(text("PRAGMA journal_mode"))
    finally:
        await writer.close()
    assert (before, seen) == (0, 1)
    assert mode == "wal"


async def test_no_thread_writer_for_an_in_memory_database() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        assert SqliteWriter.for_engine(engine) is None
    finally:
        await engine.dispose()


async def test_a_group_commit_aborted_by_a_deadlock_is_retried(
    sqlite_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL breaks a deadlock by aborting one transaction: the writer's batch is
    retried instead of answering every message in it with database_unavailable."""
    from sqlalchemy.exc import DBAPIError

    from chat import transcripts
    from chat.bus import Bus
    from ticketing.clock import FakeClock

    engine, sessions, (chat_id, _, _) = sqlite_db
    real = transcripts.append_batch
    calls = 0

    class Deadlock(Exception):
        sqlstate = "40P01"

    async def once_deadlocked(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise DBAPIError("UPDATE chats …", {}, Deadlock("deadlock detected"))
        return await real(*args)

    monkeypatch.setattr(transcripts, "append_batch", once_deadlocked)
    bus = Bus()
    await bus.connect()
    writer = transcripts.TranscriptWriter(sessions, bus, FakeClock(NOW))
    await writer.start()
    writer._sqlite = None  # the PostgreSQL path, on this SQLite file
    try:
        row, is_new = await writer.append(NewMessage(chat_id, "agent", 2, "Bea", "hi", "a1"))
    finally:
        await writer.stop()
        await bus.disconnect()
    assert (row.seq, is_new, calls) == (1, True, 2)
