"""SQLite for the async engine without a thread hop: `sqlite3` called on the event loop.

SQLAlchemy's `sqlite+aiosqlite` driver hands every DBAPI call (cursor, execute, fetch,
close, commit) to aiosqlite's thread and waits for the answer: ~4 hops a statement at
100–150 µs of CPU each, so a small transaction cost ~1,250 µs where `sqlite3` itself
takes ~28 µs (`python -m bench.sqlite_layers`). Arrivals, routing, desk refreshes,
replays and endings all paid it.

This dialect is SQLAlchemy's own `pysqlite` dialect, declared async so that
`create_async_engine` takes it: the async engine runs its sync core in a greenlet,
and a DBAPI connection that never waits never leaves that greenlet. So every
statement runs inline, with nothing to wait for but the disk: the same small
transaction costs ~260 µs, SQLAlchemy's own work nearly all of it.

Why it may block the loop: SQLite waits for a lock held by another connection through
its busy handler, on the calling thread. The only other writer in the process is the
transcript writer (chat/sqlite_writer.py), on its own thread, whose commit holds the
lock for about a millisecond and never waits for the loop; with WAL, reads never wait.
Another process on the same file (`chat mail`, a CLI command) holds it for a few; one
that holds it longer fails the waiting statement after `SQLITE_BUSY_SECONDS`
(ticketing/db.py) rather than holding the loop. Several `serve` processes on one file
are not a supported deployment (use PostgreSQL).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.interfaces import ConnectArgsType
from sqlalchemy.engine.url import URL
from sqlalchemy.util import await_

DRIVER = "chatdesk_inline"
URL_PREFIX = f"sqlite+{DRIVER}://"


class _Done:
    """An awaitable that is already done: awaiting it never yields to the loop."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())


_DONE = _Done()


class InlineCursor:
    """A `sqlite3` cursor that reads a statement's rows whole as it runs it.

    Whole, as SQLAlchemy's aiosqlite adapter does: a half-read cursor would keep its
    statement, and so a read snapshot, open until it is closed, and the transcript
    writer (chat/sqlite_writer.py) relies on this connection never holding one.

    Each statement also passes through one `await` that is already done:
    `AsyncConnection.execute` refuses a statement that never awaited (`AwaitRequired`,
    its guard against a blocking driver used by mistake). This one blocks on purpose,
    for microseconds, so it satisfies the guard without a trip to the loop."""

    __slots__ = ("_cursor", "_rows")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self._rows: deque[Any] = deque()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        self._rows.clear()
        cursor = self._cursor.execute(sql, parameters)
        if cursor.description:
            self._rows.extend(cursor.fetchall())
        await_(_DONE)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        self._rows.clear()
        self._cursor.executemany(sql, seq_of_parameters)
        await_(_DONE)
        return self

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self._cursor.arraysize if size is None else size
        rows = self._rows
        return [rows.popleft() for _ in range(min(count, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def close(self) -> None:
        self._rows.clear()
        self._cursor.close()

    async def _async_soft_close(self) -> None:
        """What the async extension calls on a buffered result: nothing is left to close."""


class InlineConnection(sqlite3.Connection):
    """A `sqlite3` connection whose cursors are `InlineCursor`s."""

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return InlineCursor(super().cursor(*args, **kwargs))


class SQLiteDialect_inline(SQLiteDialect_pysqlite):  # noqa: N801 (SQLAlchemy's naming)
    """`pysqlite`, usable from `create_async_engine` (see the module docstring)."""

    driver = DRIVER
    is_async = True
    supports_statement_cache = True
    # Every result is fetched whole as it is executed, as aiosqlite's adapter did.
    supports_server_side_cursors = False

    def create_connect_args(self, url: URL) -> ConnectArgsType:
        args, kwargs = super().create_connect_args(url)
        return args, {**kwargs, "factory": InlineConnection}

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        """The asyncio-aware pools, as the aiosqlite dialect picks them: a checkout
        that waits for the one connection awaits instead of blocking the thread."""
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def get_driver_connection(self, connection: Any) -> Any:
        return connection


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inline")


def inline_url(url: str) -> str:
    """`sqlite+aiosqlite://…` (or any SQLite URL) on this module's dialect."""
    _, _, rest = url.partition("://")
    return URL_PREFIX + rest
