"""The transcript writer's SQLite path: group commits on a `sqlite3` connection of its own.

See `SqliteWriter`; chat/transcripts.py decides when a batch is written, this module
only how it is written on SQLite.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from chat.errors import ChatClosed
from chat.models import Chat, ChatMessage
from chat.transcript_batch import (
    BUMP_COUNTER,
    STORED_COLUMNS,
    GroupCommit,
    NewMessage,
    StoredMessage,
)
from ticketing.db import apply_sqlite_settings, sqlite_file

log = logging.getLogger("chat.transcripts")

# The writer's commits leave the WAL to a checkpointer thread of their own, which copies
# it back into the database this often, beside the next commits. Inline, SQLite's
# automatic checkpoint (every 1,000 WAL pages) made one commit in ~45 take 10–17 ms
# instead of ~1 (its fsyncs): most of SQLite's p99 under load (docs/performance.md).
# The commit after the checkpointer's turn copies back the few pages committed while it
# ran: SQLite starts the WAL over from its beginning only when it is wholly copied back
# as a write begins, which a checkpoint running beside the commits never leaves it.
CHECKPOINT_EVERY_COMMITS = 50


class SqliteWriter:
    """Stores group commits on SQLite through its own connection, on its own thread.

    Through the async engine a group commit was ~15 hops to aiosqlite's thread and back
    (cursor, execute, fetch, close per statement, begin, commit), ~100–150 µs of CPU
    each, plus SQLAlchemy's per-statement work: ~2 ms per commit whatever its size. Here
    a commit is ONE hop: the whole batch runs as one function against a `sqlite3`
    connection this thread owns. Statement texts are fixed (SQLite's statement cache
    keeps them prepared) and values go through the columns' own SQLAlchemy type
    processors, so UTC datetimes, JSON and enums are stored exactly as the ORM stores them.

    A second connection to the same file is safe because the database is in WAL mode
    (readers never block, and see every commit) and because the app's engine, through
    pysqlite's deferred transactions, opens its write transaction at its first write, so
    it never holds a read snapshot that this writer's commit could invalidate
    (tests/chat/test_transcripts.py pins both). Writers wait for each other through
    SQLite's busy timeout, on their own threads, never on the event loop. A third
    connection, on a thread of its own, checkpoints the WAL beside the commits
    (`CHECKPOINT_EVERY_COMMITS`).
    """

    def __init__(self, path: str, dialect: Any) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transcripts")
        self._conn: sqlite3.Connection | None = None
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointing: Future[None] | None = None
        self._commits_unchecked = 0
        table, chats = ChatMessage.__table__, Chat.__table__
        insert_sql = insert(table).compile(dialect=dialect, column_keys=list(STORED_COLUMNS))
        bump_sql = BUMP_COUNTER.compile(dialect=dialect)
        self._insert = insert_sql.string
        self._insert_names = list(insert_sql.positiontup or ())
        self._bump = bump_sql.string
        self._bump_names = list(bump_sql.positiontup or ())
        # Each statement's parameters in its order: how to read them off a new line (a
        # StoredMessage) or a counter (a dict), and what SQLAlchemy applies to each.
        self._insert_values = _getter(attrgetter, self._insert_names)
        self._insert_bind = [_processor(table.c[name].type, dialect) for name in self._insert_names]
        self._bump_values = _getter(itemgetter, self._bump_names)
        self._bump_bind = [
            _processor(bump_sql.binds[name].type, dialect) for name in self._bump_names
        ]
        self._result = [
            _processor(table.c[name].type, dialect, result=True) for name in STORED_COLUMNS
        ]
        self._state = _processor(chats.c.state.type, dialect, result=True)
        columns = ", ".join(f"m.{name}" for name in STORED_COLUMNS)
        # json_each: one fixed text for any number of keys, so the statement stays
        # prepared. CROSS JOIN keeps the keys the outer loop (SQLite never reorders it), so
        # each is one probe of the unique index on (chat_id, sender, client_id).
        self._select_resends = (
            f"SELECT {columns} "
            f"FROM json_each(?) AS k CROSS JOIN {table.name} AS m "
            "ON m.chat_id = json_extract(k.value, '$[0]') "
            "AND m.sender = json_extract(k.value, '$[1]') "
            "AND m.client_id = json_extract(k.value, '$[2]')"
        )
        self._select_chats = (
            f"SELECT id, state, last_seq FROM {chats.name} "
            "WHERE id IN (SELECT value FROM json_each(?))"
        )

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> SqliteWriter | None:
        """A writer for a file-backed SQLite engine; None otherwise (an in-memory database
        is private to its connection, and PostgreSQL needs no thread)."""
        path = sqlite_file(engine)
        return None if path is None else cls(path, engine.sync_engine.dialect)

    async def append(
        self, messages: Sequence[NewMessage], now: dt.datetime
    ) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._append, messages, now)

    async def checkpointed(self) -> None:
        """Wait for the checkpoint under way, if any (tests)."""
        running = self._checkpointing
        if running is not None:
            await asyncio.wrap_future(running)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)
        await loop.run_in_executor(self._checkpointer, self._close_checkpointer)
        self._checkpointer.shutdown(wait=False)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the last connection to close checkpoints what is left
            self._conn = None

    def _close_checkpointer(self) -> None:
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
            apply_sqlite_settings(conn)
            self._conn = conn
        return self._conn

    def _checkpoint_soon(self) -> None:
        """On the writer's thread, after a commit: every `CHECKPOINT_EVERY_COMMITS`, hand
        the WAL to the checkpointer; once it is done, finish its work here."""
        running = self._checkpointing
        if running is not None and running.done():
            self._checkpointing = None
            # The few pages committed while it ran: this thread is the writer, so no
            # commit overtakes this copy, and the next commit starts the WAL over.
            assert self._conn is not None
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # the batch is committed: it must not fail now
                log.warning("WAL checkpoint failed: %s", exc)
        self._commits_unchecked += 1
        if self._commits_unchecked < CHECKPOINT_EVERY_COMMITS or self._checkpointing is not None:
            return
        self._commits_unchecked = 0
        self._checkpointing = self._checkpointer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """On the checkpointer's thread. PASSIVE never waits for the writer (SQLite lets a
        checkpoint run beside a write transaction), so no commit waits for this one."""
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = sqlite3.connect(
                    self._path, isolation_level=None, timeout=30
                )
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the connections' own checkpoints still bound the WAL
            log.warning("WAL checkpoint failed: %s", exc)

    def _append(
        self, messages: Sequence[NewMessage], now: dt.datetime
    ) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        """One transaction, on this writer's thread (the only one that uses the connection)."""
        conn = self._connection()
        batch = GroupCommit(messages)
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: the reads below stay true
        try:
            found: list[StoredMessage] = []
            if batch.keys:
                rows = conn.execute(self._select_resends, (json.dumps(batch.resend_keys()),))
                found = [
                    StoredMessage(
                        *(p(v) if p else v for p, v in zip(self._result, row, strict=True))
                    )
                    for row in rows
                ]
            chat_ids = batch.classify(found)
            if chat_ids:
                state = self._state
                state_of = {
                    chat_id: (state(value) if state else value, last_seq)
                    for chat_id, value, last_seq in conn.execute(
                        self._select_chats, (json.dumps(chat_ids),)
                    )
                }
                counters, new_rows = batch.number(state_of, now)
                if counters:
                    values, bind = self._bump_values, self._bump_bind
                    conn.executemany(self._bump, [_params(values(c), bind) for c in counters])
                if new_rows:
                    values, bind = self._insert_values, self._insert_bind
                    conn.executemany(self._insert, [_params(values(r), bind) for r in new_rows])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._checkpoint_soon()
        return batch.outcome()


def _getter(make: Callable[..., Any], names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """`attrgetter`/`itemgetter` of `names`, always giving a tuple (one name gives a value)."""
    get = make(*names)
    return get if len(names) > 1 else lambda value: (get(value),)


def _params(values: tuple[Any, ...], bind: list[Any]) -> tuple[Any, ...]:
    # None too: JSON stores it as 'null', as the ORM and Core paths do.
    return tuple(
        value if process is None else process(value)
        for value, process in zip(values, bind, strict=True)
    )


def _processor(type_: Any, dialect: Any, *, result: bool = False) -> Any:
    """The function SQLAlchemy itself applies to a column's values on this dialect (the
    dialect's own implementation of the type: SQLite keeps datetimes as text)."""
    impl = type_.dialect_impl(dialect)
    return impl.result_processor(dialect, None) if result else impl.bind_processor(dialect)
