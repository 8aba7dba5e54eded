"""The storage layer's plumbing: one declarative base, the engine and session factory.

One code path for both dialects: SQLite (the embedded default, one process) and
PostgreSQL (several processes). Timestamps are always timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, event, exc, literal_column
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.elements import ColumnElement

from ticketing.sqlite_inline import inline_url

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC; SQLite forgets the zone, so we put it back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC times")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def constant(value: str) -> ColumnElement[Any]:
    """A fixed value a query searches by (a chat's state, a ticket's status), written
    into the SQL rather than sent as a parameter.

    PostgreSQL plans a prepared statement for any parameter value once it has run it
    five times (a generic plan), and asyncpg prepares every statement. `state = $1`
    then can use neither the index of active chats only nor the statistics that say
    waiting chats are few: each routing pass read every agent's whole history, and
    took longer with every chat the desk had ever had (docs/performance.md). With the
    value in the SQL, every plan is made for it."""
    if not value.replace("_", "").isalnum():
        raise ValueError(f"not a plain word, so not written into SQL: {value!r}")
    return literal_column(f"'{value}'")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    """A timestamp as every frame and API response writes it: ISO 8601 in UTC, with Z."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def normalise_url(url: str) -> str:
    """Accept the plain URLs people paste and pick our async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///") or url.startswith("sqlite://"):
        url = url.replace("sqlite://", "sqlite+aiosqlite://", 1)
    return url


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # SQLite allows one writer. One pooled connection serialises this process's
        # transactions instead of failing with "database is locked"; SQLite is the
        # single-process deployment (use PostgreSQL for several processes). Its
        # statements run on the event loop, without aiosqlite's thread hops
        # (ticketing/sqlite_inline.py).
        engine = create_async_engine(
            inline_url(url),
            echo=echo,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            connect_args={"timeout": SQLITE_BUSY_SECONDS},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            apply_sqlite_settings(cursor)
            cursor.close()

        return engine
    # Up to 30 connections, all kept once opened: with a pool of 10 and 20 "overflow"
    # connections, a rush (more than 10 sessions at once) opened a connection, ran one
    # transaction on it and closed it again, over and over — connect, SSL probe, cold
    # prepared-statement cache, close: about a tenth of the server's CPU at 100 arrivals
    # a second (docs/performance.md). Same ceiling, no churn.
    engine = create_async_engine(url, echo=echo, pool_size=POOL_SIZE, max_overflow=0)
    ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


# How long the engine's statement waits for another connection's write lock before it
# fails with "database is locked". It waits on the event loop (ticketing/sqlite_inline.py),
# holding every socket of the process: the transcript writer's commits hold the lock for
# about a millisecond, a `chat mail` or CLI process on the same file for a few; anything
# longer had better fail one request than stall all of them.
SQLITE_BUSY_SECONDS = 5.0


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The file of a SQLite engine; None for PostgreSQL and for a database in memory
    (private to its connection, so no second connection can share it)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def create_scan_engine(engine: AsyncEngine) -> AsyncEngine | None:
    """For a SQLite file, an engine of its own for reads that may read a whole table (a
    ticket search matches words inside every message): on aiosqlite's thread, where
    `sqlite3` releases the GIL while SQLite works, so the event loop, and every socket on
    it, goes on. The app's engine runs on the loop (ticketing/sqlite_inline.py), where a
    search over a year of messages would hold them all for its length. Read-only
    (`query_only`); WAL lets it read beside every writer. None for PostgreSQL, whose
    server does the reading while the loop waits on the socket, and for a database in
    memory, which is private to its connection."""
    path = sqlite_file(engine)
    if path is None:
        return None
    scans = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        pool_size=1,
        max_overflow=0,
        pool_timeout=60,
        connect_args={"timeout": 30},
    )

    @event.listens_for(scans.sync_engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return scans


# WAL pages past which a commit checkpoints by itself (SQLite's default is 1,000, and
# that checkpoint's fsyncs hold the commit up). The transcript writer's checkpointer
# copies the WAL back beside the commits well before (every 50 commits: ~1,100 pages at
# 2,000 msgs/s; chat/sqlite_writer.py); this bounds the WAL (~16 MiB) where nothing else
# does, such as a desk busy with tickets and quiet in chat.
SQLITE_AUTOCHECKPOINT_PAGES = 4_000
# What every connection that writes the SQLite file needs: the engine's and the
# transcript writer's own (WAL so readers never block, and both see every commit).
SQLITE_SETTINGS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}",
)


def apply_sqlite_settings(connection: Any) -> None:
    """`SQLITE_SETTINGS` on a new connection (a `sqlite3` connection or a DB-API cursor)."""
    for pragma in SQLITE_SETTINGS:
        connection.execute(pragma)


# PostgreSQL connections one engine keeps at most (the transcript writer has one more).
POOL_SIZE = 30
# A pooled connection idle longer than this is pinged before use (ping_when_idle).
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "chatdesk.idle_since"
# When each engine's pooled connections were last put in doubt (doubt_connections).
_DOUBTED_AT: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def doubt_connections(engine: AsyncEngine) -> None:
    """Ping, at their next checkout, every connection that was in the pool before now.

    For code that learns of an outage on a connection of its own (the transcript
    writer's, chat/postgres_writer.py): the pool's connections most likely died with it,
    and a hot one would otherwise fail the first request that takes it.
    """
    _DOUBTED_AT[engine.sync_engine] = time.monotonic()


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """`pool_pre_ping`, but only for a connection that sat idle in the pool.

    `pool_pre_ping=True` is a round trip on every checkout: ~0.4 ms of CPU measured
    per transaction (docs/performance.md), paid by every group commit and every chat
    ending. A connection checked in moments ago was just proven alive; one idle
    longer (a server restart, an idle timeout, a firewall) is pinged, and a failed ping
    invalidates the pool, as pre-ping does. A restart that kills connections in use
    fails the transactions holding them, and SQLAlchemy's disconnect handling then
    invalidates the whole pool, so the next checkout reconnects. A restart seen
    elsewhere (`doubt_connections`) gets every connection checked in before it pinged.
    """
    dialect = engine.dialect
    sync_engine = engine.sync_engine

    @event.listens_for(engine.sync_engine, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None:
            return  # new
        if time.monotonic() - since < idle_seconds and since > _DOUBTED_AT.get(sync_engine, -1.0):
            return  # back from use a moment ago, and nothing since says the server went away
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: drop it and connect afresh
            raise exc.InvalidatePoolError(f"idle connection failed its ping: {error}") from error
        if not alive:
            raise exc.InvalidatePoolError("idle connection failed its ping")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def one_statement(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncConnection]:
    """A pooled connection for work that is one statement (a replay's read, a new
    visitor's INSERT), which needs no transaction around it; committed on success.

    On PostgreSQL it runs in autocommit: no BEGIN before the statement and no COMMIT or
    ROLLBACK after it, two round trips fewer, and a lone statement is atomic and sees
    what READ COMMITTED would have shown it anyway. SQLite keeps its one connection as
    it is (switching it costs a thread hop each way, more than the BEGIN it saves)."""
    engine: AsyncEngine = sessions.kw["bind"]
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection
        await connection.commit()


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session
