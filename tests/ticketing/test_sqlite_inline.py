"""The SQLite engine runs `sqlite3` on the event loop (ticketing/sqlite_inline.py), and
reads that may scan a table run beside it (`ticketing.db.create_scan_engine`).

SQLite only, by nature (PostgreSQL's driver is asyncpg), but for the last test, which
checks both backends' search. The rest of the suite runs every SQLite storage test
through this dialect; these pin what is particular to it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from tests.support import LiveDesk
from tests.ticketing.test_api import agent_http
from ticketing import db
from ticketing.sqlite_inline import DRIVER, InlineCursor


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'inline.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        await connection.execute(text("INSERT INTO t (body) VALUES ('a'), ('b'), ('c')"))
    yield engine
    await engine.dispose()


def _file(engine: AsyncEngine) -> str:
    path = db.sqlite_file(engine)
    assert path is not None
    return path


async def test_every_statement_runs_on_the_loops_own_thread(engine: AsyncEngine) -> None:
    threads: list[int] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _where(*_: Any) -> None:
        threads.append(threading.get_ident())

    assert engine.dialect.driver == DRIVER
    async with engine.begin() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM t")) == 3
        await connection.execute(text("UPDATE t SET body = 'z' WHERE id = 1"))
    assert threads and set(threads) == {threading.get_ident()}


async def test_a_half_read_result_holds_no_read_snapshot(engine: AsyncEngine) -> None:
    """Rows are read whole as the statement runs: a result the caller reads one row of
    must not keep a snapshot open, or the transcript writer's checkpoints could never
    copy the WAL back (and a later write would fail on a stale snapshot)."""
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT body FROM t ORDER BY id"))
        assert result.fetchone() == ("a",)
        other = sqlite3.connect(_file(engine))
        try:
            other.execute("INSERT INTO t (body) VALUES ('d')")
            other.commit()
            busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            other.close()
        assert busy == 0  # nobody reads an old snapshot: the WAL was copied back whole
        assert result.fetchall() == [("b",), ("c",)]
        assert await connection.scalar(text("SELECT count(*) FROM t")) == 4


async def test_a_write_waits_for_another_writer_then_lands(engine: AsyncEngine) -> None:
    """The only other writer is the transcript writer's thread: SQLite's busy handler
    waits for its commit (on the loop's thread, about a millisecond in practice)."""
    locked, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(_file(engine), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t (body) VALUES ('from the writer')")
        locked.set()
        release.wait(5)
        other.execute("COMMIT")
        other.close()

    writer = threading.Thread(target=hold_the_write_lock)
    writer.start()
    assert locked.wait(5)
    threading.Timer(0.2, release.set).start()
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (body) VALUES ('from the app')"))
    writer.join(5)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT body FROM t WHERE id > 3"))).all()
    assert sorted(rows) == [("from the app",), ("from the writer",)]


async def test_a_lock_held_past_the_busy_timeout_fails_one_statement_not_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the write lock for long (not the transcript writer's
    millisecond) fails the waiting statement after `SQLITE_BUSY_SECONDS`, with SQLite's
    own error, instead of holding the loop, and so every socket, for as long."""
    monkeypatch.setattr(db, "SQLITE_BUSY_SECONDS", 0.2)
    engine = db.create_engine(f"sqlite:///{tmp_path / 'busy.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    other = sqlite3.connect(_file(engine), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(exc.OperationalError, match="database is locked"):
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t (body) VALUES ('waited')"))
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with engine.begin() as connection:  # the lock gone, the next write lands
        await connection.execute(text("INSERT INTO t (body) VALUES ('after')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT body FROM t"))).all() == [("after",)]
    await engine.dispose()


async def test_a_failed_statement_rolls_its_transaction_back(engine: AsyncEngine) -> None:
    with pytest.raises(exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (id, body) VALUES (10, 'kept?')"))
            await connection.execute(text("INSERT INTO t (id, body) VALUES (1, 'duplicate')"))
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM t")) == 3


async def test_sessions_queue_for_the_one_connection_without_blocking_the_loop(
    engine: AsyncEngine,
) -> None:
    """One pooled connection: a second transaction waits for the first by awaiting the
    pool, so the loop goes on (a timer fires) while the first is open."""
    sessions = db.create_sessionmaker(engine)
    order: list[str] = []
    ticked = asyncio.Event()

    async def first() -> None:
        async with db.transaction(sessions) as session:
            await session.execute(text("INSERT INTO t (body) VALUES ('first')"))
            order.append("first wrote")
            await ticked.wait()  # the transaction stays open across an await
            order.append("first commits")

    async def second() -> None:
        await asyncio.sleep(0)
        async with db.transaction(sessions) as session:
            seen = await session.scalar(text("SELECT count(*) FROM t WHERE body = 'first'"))
            order.append(f"second saw {seen} committed")
            await session.execute(text("INSERT INTO t (body) VALUES ('second')"))

    asyncio.get_running_loop().call_later(0.05, ticked.set)
    await asyncio.gather(first(), second())
    assert order == ["first wrote", "first commits", "second saw 1 committed"]
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM t")) == 5


async def test_the_cursor_reads_like_a_dbapi_cursor(tmp_path: Path) -> None:
    """fetchone, fetchmany, iteration and fetchall share one buffer, as SQLAlchemy's
    result objects expect of a DBAPI cursor."""
    connection = sqlite3.connect(tmp_path / "plain.db")
    cursor = InlineCursor(connection.cursor())

    def read() -> list[Any]:
        cursor.execute("CREATE TABLE n (v INT)")
        cursor.executemany("INSERT INTO n VALUES (?)", [(v,) for v in range(6)])
        assert cursor.rowcount == 6
        cursor.execute("SELECT v FROM n ORDER BY v")
        return [cursor.fetchone(), cursor.fetchmany(2), next(iter(cursor)), cursor.fetchall()]

    assert await greenlet_spawn(read) == [(0,), [(1,), (2,)], (3,), [(4,), (5,)]]
    assert cursor.fetchone() is None and cursor.fetchmany() == []
    cursor.close()
    connection.close()


async def test_a_read_that_scans_runs_beside_the_loop_and_never_writes(tmp_path: Path) -> None:
    """`create_scan_engine`: reads that may read a whole table (a ticket search) go
    through aiosqlite's thread, so a long one leaves the loop, and every socket, free."""
    engine = db.create_engine(f"sqlite:///{tmp_path / 'scans.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        await connection.execute(text("INSERT INTO t (body) VALUES ('a')"))
    scans = db.create_scan_engine(engine)
    assert scans is not None and scans.dialect.driver == "aiosqlite"

    @event.listens_for(scans.sync_engine, "connect")
    def _slow_function(dbapi_connection: Any, _record: Any) -> None:
        def slow(value: str) -> str:
            time.sleep(0.3)  # SQLite at work on a long scan: the GIL is released
            return value

        dbapi_connection.create_function("slow", 1, slow)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    counting = asyncio.create_task(ticker())
    try:
        async with db.create_sessionmaker(scans)() as session:
            assert await session.scalar(text("SELECT slow(body) FROM t")) == "a"
        assert ticks >= 10  # the loop turned while SQLite worked (~30 ticks in 0.3 s)
        with pytest.raises(exc.OperationalError, match="readonly"):
            async with db.create_sessionmaker(scans)() as session:
                await session.execute(text("INSERT INTO t (body) VALUES ('no')"))
    finally:
        counting.cancel()
        await scans.dispose()
        await engine.dispose()


async def test_the_ticket_search_reads_through_the_scan_engine(desk: LiveDesk) -> None:
    """On SQLite the agents' ticket list and search use `Runtime.scans`; on PostgreSQL
    there is no second engine (the server reads, the loop only waits on a socket)."""
    runtime = desk.runtime
    if runtime.engine.dialect.name == "postgresql":
        assert runtime.scans is runtime.sessions
        return
    scan_engine: AsyncEngine = runtime.scans.kw["bind"]
    assert scan_engine is not runtime.engine and scan_engine.dialect.driver == "aiosqlite"
    read: list[str] = []

    @event.listens_for(scan_engine.sync_engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        read.append(statement)

    bea = await desk.agent("Bea", online=False)
    async with agent_http(desk, bea) as http:
        found = await http.get("/api/tickets", params={"q": "invoice"})
    assert found.status_code == 200, found.text
    assert any("FROM tickets" in statement for statement in read), read
