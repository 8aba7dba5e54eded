"""The group-commit writer's storage paths, and what each direct writer relies on.

On SQLite the writer stores batches through its own `sqlite3` connection on its own
thread (chat/sqlite_writer.py); on PostgreSQL through its own asyncpg connection with
fixed statements (chat/postgres_writer.py). These tests pin that both store exactly what
the async-session path stores; on SQLite, the two facts about the app's engine it relies
on: WAL (readers see the writer's commits) and transactions that begin at the first
write (so no read snapshot of the engine can be invalidated by the writer's commit); on
PostgreSQL, that a lost connection or an aborted transaction costs no message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chat import sqlite_writer
from chat.errors import ChatClosed
from chat.models import Chat, ChatMessage
from chat.postgres_writer import PostgresWriter
from chat.seed import seed_services
from chat.sqlite_writer import SqliteWriter
from chat.states import ChatState
from chat.transcripts import NewMessage, append_batch, messages_after
from tests.conftest import Backend
from ticketing.db import (
    SQLITE_AUTOCHECKPOINT_PAGES,
    create_engine,
    create_sessionmaker,
    transaction,
)
from ticketing.models import Customer

NOW = dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC)


@pytest.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Any:
    path = tmp_path / "writer.db"
    shutil.copy(sqlite_template, path)
    async for db in _seeded(f"sqlite+aiosqlite:///{path}"):
        yield db


@pytest.fixture
async def postgres_db(shared_backend: Backend) -> Any:
    async for db in _seeded(shared_backend.database_url):
        yield db


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest) -> Any:
    """The same three chats on each backend (two open, one ended)."""
    return request.getfixturevalue(f"{request.param}_db")


async def _seeded(url: str) -> Any:
    engine = create_engine(url)
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


def _direct_writer(engine: AsyncEngine) -> SqliteWriter | PostgresWriter:
    writer = SqliteWriter.for_engine(engine) or PostgresWriter.for_engine(engine)
    assert writer is not None
    return writer


async def test_the_direct_writer_stores_what_the_async_path_stores(any_db: Any) -> None:
    engine, sessions, (async_chat, thread_chat, ended_chat) = any_db
    writer = _direct_writer(engine)
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


async def test_one_batch_of_many_chats_resends_repeats_and_a_closed_chat(any_db: Any) -> None:
    """Every rule of a group commit at once, in one batch over three chats: a resend gets
    the stored row, a repeat its first copy's outcome, a closed chat's lines are refused,
    and each open chat's new lines are numbered on in batch order."""
    engine, sessions, (first, second, ended) = any_db
    writer = _direct_writer(engine)
    try:
        await writer.append([NewMessage(first, "agent", 2, "Bea", "stored", "a1")], NOW)
        later = NOW + dt.timedelta(seconds=1)
        results = await writer.append(
            [
                NewMessage(second, "customer", 1, "Ana", "one", "c1"),
                NewMessage(first, "agent", 2, "Bea", "resent", "a1"),
                NewMessage(ended, "agent", 2, "Bea", "too late", "a2"),
                NewMessage(first, "customer", 1, "Ana", "two", "c2"),
                NewMessage(second, "customer", 1, "Ana", "one again", "c1"),
                NewMessage(ended, "agent", 2, "Bea", "too late again", "a2"),
                NewMessage(second, "agent", 2, "Bea", "three", "a1"),
            ],
            later,
        )
    finally:
        await writer.close()
    shape = [
        "closed" if isinstance(r, ChatClosed) else (r[0].chat_id, r[0].seq, r[0].body, r[1])
        for r in results
    ]
    assert shape == [
        (second, 1, "one", True),
        (first, 1, "stored", False),
        "closed",
        (first, 2, "two", True),
        (second, 1, "one", False),
        "closed",
        (second, 2, "three", True),
    ]
    assert results[1][0].created_at == NOW and results[0][0].created_at == later
    async with sessions() as session:
        chats = {c.id: c for c in await session.scalars(select(Chat))}
        assert [(r.seq, r.body) for r in await messages_after(session, second, 0)] == [
            (1, "one"),
            (2, "three"),
        ]
    assert (chats[first].last_seq, chats[second].last_seq, chats[ended].last_seq) == (2, 2, 0)
    assert chats[first].last_customer_activity_at == later
    assert chats[second].last_customer_activity_at == later


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


async def test_a_resend_lookup_probes_the_unique_index_by_its_whole_key(sqlite_db: Any) -> None:
    """Both SQLite paths look resends up by (chat_id, sender, client_id), one index probe
    a key. Looking up by the batch's chat ids and client ids apart read every line of its
    chats, so a group commit cost more with every line they held (docs/performance.md)."""
    engine, sessions, (chat_id, _, _) = sqlite_db
    writer = SqliteWriter.for_engine(engine)
    assert writer is not None
    lookups: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("SELECT") and "WHERE chat_messages.chat_id" in statement:
            lookups.append((statement, params))

    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    async with transaction(sessions) as session:
        await append_batch(session, _messages(chat_id), NOW)
    event.remove(engine.sync_engine, "before_cursor_execute", keep)
    assert len(lookups) == 1
    by_writer = (writer._select_resends, (json.dumps([[chat_id, "customer", "c1"]]),))
    plans = []
    async with engine.connect() as conn:
        for statement, params in [by_writer, *lookups]:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            plans.append([row[3] for row in rows])
    await writer.close()
    for plan in plans:
        searches = [step for step in plan if "chat_messages" in step or " m " in f"{step} "]
        assert searches, plan
        assert all("(chat_id=? AND sender=? AND client_id=?)" in s for s in searches), plan


async def test_the_wal_is_checkpointed_beside_the_writers_commits(
    sqlite_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit of the writer leaves its lines in the WAL; every few commits the
    checkpointer's own thread copies them into the database file. (Checkpointing inside
    a commit made one commit in ~45 take 10–17 ms: most of SQLite's p99.)"""
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_EVERY_COMMITS", 3)
    engine, sessions, (chat_id, _, _) = sqlite_db
    path = engine.url.database
    writer = SqliteWriter.for_engine(engine)
    assert writer is not None

    def lines_in_the_database_file() -> int:
        # immutable: SQLite reads the database file alone and ignores the WAL
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM chat_messages").fetchone()[0])

    def line(n: int) -> list[NewMessage]:
        return [NewMessage(chat_id, "customer", 1, "Ana", f"line {n}", f"c{n}")]

    def wal_bytes() -> int:
        return Path(f"{path}-wal").stat().st_size

    try:
        for n in range(2):
            await writer.append(line(n), NOW)
        await writer.checkpointed()
        assert lines_in_the_database_file() == 0
        await writer.append(line(2), NOW)  # the third commit: the checkpointer's turn
        await writer.checkpointed()
        assert lines_in_the_database_file() == 3
        await writer.append(line(3), NOW)  # ... and the next commit finishes its work
        assert lines_in_the_database_file() == 4
        grown = wal_bytes()
        for n in range(4, 64):
            await writer.append(line(n), NOW)
            await writer.checkpointed()
        # Wholly copied back every few commits, the WAL starts over instead of growing.
        assert wal_bytes() <= grown
        assert lines_in_the_database_file() >= 61
        async with sessions() as session:
            assert len(await messages_after(session, chat_id, 0)) == 64
            # The app's engine leaves checkpoints to the checkpointer too: at SQLite's
            # default it would checkpoint in the first commit past 1,000 WAL pages.
            pages = await session.scalar(text("PRAGMA wal_autocheckpoint"))
    finally:
        await writer.close()
    assert pages == SQLITE_AUTOCHECKPOINT_PAGES


async def test_a_checkpoint_that_fails_after_a_commit_does_not_fail_its_batch(
    sqlite_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's own checkpoint runs after its COMMIT: the batch is stored, and must be
    answered as stored (a refusal would have the clients resend what is already there)."""
    monkeypatch.setattr(sqlite_writer, "CHECKPOINT_EVERY_COMMITS", 1)
    engine, sessions, (chat_id, _, _) = sqlite_db
    writer = SqliteWriter.for_engine(engine)
    assert writer is not None

    class NoCheckpoints:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self._conn = conn

        def execute(self, sql: str, *args: Any) -> Any:
            if "wal_checkpoint" in sql:
                raise sqlite3.OperationalError("disk I/O error")
            return self._conn.execute(sql, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

    try:
        await writer.append([NewMessage(chat_id, "customer", 1, "Ana", "one", "c1")], NOW)
        await writer.checkpointed()
        writer._conn = NoCheckpoints(writer._connection())  # type: ignore[assignment]
        stored = await writer.append([NewMessage(chat_id, "customer", 1, "Ana", "two", "c2")], NOW)
    finally:
        writer._conn = writer._conn._conn if isinstance(writer._conn, NoCheckpoints) else None
        await writer.close()
    assert [(r[0].seq, r[1]) for r in stored] == [(2, True)]  # type: ignore[index]
    async with sessions() as session:
        assert [r.body for r in await messages_after(session, chat_id, 0)] == ["one", "two"]


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
    writer._direct = None  # the async-session path, on this SQLite file
    try:
        row, is_new = await writer.append(NewMessage(chat_id, "agent", 2, "Bea", "hi", "a1"))
    finally:
        await writer.stop()
        await bus.disconnect()
    assert (row.seq, is_new, calls) == (1, True, 2)


async def _stored(sessions: Any, chat_id: int) -> list[tuple[int, str | None]]:
    async with sessions() as session:
        return [(r.seq, r.client_id) for r in await messages_after(session, chat_id, 0)]


async def test_the_postgres_writer_reconnects_when_its_connection_is_killed(
    postgres_db: Any,
) -> None:
    """PostgreSQL restarted, or an idle connection cut: the writer opens a new one by
    itself, without refusing the next batch (asyncpg may notice the dead connection only
    when BEGIN fails, with an error of its own; that BEGIN is retried on a new one)."""
    engine, sessions, (chat_id, _, _) = postgres_db
    writer = _direct_writer(engine)
    assert isinstance(writer, PostgresWriter)
    try:
        await writer.append([NewMessage(chat_id, "agent", 2, "Bea", "one", "a1")], NOW)
        async with sessions() as session:  # the pool holds a connection used just now
            await session.scalar(text("SELECT 1"))
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        admin = await asyncpg.connect(url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed == 2  # the writer's connection and the pool's
        # Noticed at BEGIN at the latest, before anything is sent: no batch is refused.
        [(row, is_new)] = await writer.append(
            [NewMessage(chat_id, "agent", 2, "Bea", "two", "a2")], NOW
        )
        assert (row.seq, is_new) == (2, True)
    finally:
        await writer.close()
    # The engine's pooled connection died with the rest, though it was used a moment
    # ago: the writer's lost connection put it in doubt, so it is pinged and replaced.
    assert await _stored(sessions, chat_id) == [(1, "a1"), (2, "a2")]


async def test_the_postgres_writer_plans_each_statement_for_its_arguments(
    postgres_db: Any,
) -> None:
    """No generic plan: one made while `chat_messages` was empty scanned the whole table
    for every resend lookup, and kept doing so as the table grew (docs/performance.md)."""
    engine, _, (chat_id, _, _) = postgres_db
    writer = _direct_writer(engine)
    assert isinstance(writer, PostgresWriter)
    try:
        await writer.append([NewMessage(chat_id, "agent", 2, "Bea", "one", "a1")], NOW)
        assert writer._conn is not None
        assert await writer._conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
    finally:
        await writer.close()


def _fail_once(monkeypatch: pytest.MonkeyPatch, error: Exception) -> list[int]:
    """Make the PostgreSQL writer's first attempt raise `error` instead of storing (its one
    statement is its own transaction: one PostgreSQL aborts leaves nothing); returns the
    attempts made, a list that grows with each one."""
    real = PostgresWriter._append
    calls: list[int] = []

    async def failing_once(*args: Any) -> Any:
        calls.append(len(calls))
        result = await real(*args) if len(calls) > 1 else None
        if len(calls) == 1:
            raise error
        return result

    monkeypatch.setattr(PostgresWriter, "_append", staticmethod(failing_once))
    return calls


@pytest.mark.parametrize("error", [asyncpg.DeadlockDetectedError, asyncpg.SerializationError])
async def test_a_postgres_group_commit_aborted_by_a_conflict_is_retried(
    postgres_db: Any, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    engine, sessions, (chat_id, _, _) = postgres_db
    calls = _fail_once(monkeypatch, error("aborted to break a conflict"))
    writer = _direct_writer(engine)
    try:
        [(row, is_new)] = await writer.append(
            [NewMessage(chat_id, "agent", 2, "Bea", "hi", "a1")], NOW
        )
    finally:
        await writer.close()
    assert (row.seq, is_new, len(calls)) == (1, True, 2)
    assert await _stored(sessions, chat_id) == [(1, "a1")]


async def test_a_postgres_duplicate_is_retried_chat_by_chat(
    postgres_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process stored one of the batch's client ids at the same moment: the
    batch is retried one chat at a time, and the other chats' messages are not refused."""
    from chat.bus import Bus
    from chat.transcripts import TranscriptWriter
    from ticketing.clock import FakeClock

    engine, sessions, (first, second, _) = postgres_db
    calls = _fail_once(monkeypatch, asyncpg.UniqueViolationError("duplicate key value"))
    bus = Bus()
    await bus.connect()
    writer = TranscriptWriter(sessions, bus, FakeClock(NOW))
    await writer.start()
    try:
        futures = [
            writer.submit(NewMessage(first, "agent", 2, "Bea", "hi", "a1")),
            writer.submit(NewMessage(second, "agent", 2, "Bea", "hi", "a1")),
        ]
        results = await asyncio.gather(*futures)
    finally:
        await writer.stop()
        await bus.disconnect()
    assert [(row.chat_id, row.seq, is_new) for row, is_new in results] == [
        (first, 1, True),
        (second, 1, True),
    ]
    assert len(calls) == 3  # the whole batch once, then each chat alone
