"""The transcript writer's PostgreSQL path: group commits on an asyncpg connection of its own.

Through the async session a group commit cost ~1.2 ms of client CPU whatever its size
(`bench.writer --database-url …`: SQLAlchemy building and expanding two `IN` selects,
cache keys, result set-up, the session's begin and commit), so on a calm desk, where a
commit holds a few messages, the writer alone cost more than the whole relay. Here the
three statements are fixed texts that asyncpg prepares once per connection and then only
binds: arrays in, one round trip each, no SQL built per commit. chat/transcripts.py
decides when a batch is written; this module only how, as chat/sqlite_writer.py does on
SQLite.

Two things about plans. The resend lookup joins `unnest` of the batch's exact keys to
the unique index on (chat_id, sender, client_id), an index lookup per key (an earlier
attempt, `chat_id = ANY($1) AND client_id = ANY($2)`, reads every line of the batch's
chats). And every execution is planned for its own arguments (`plan_cache_mode`, below):
a prepared statement's generic plan is made once, possibly while a table is empty, and
kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction
from sqlalchemy.ext.asyncio import AsyncEngine

from chat.errors import ChatClosed
from chat.models import Chat, ChatMessage
from chat.states import ChatState
from chat.transcript_batch import GroupCommit, NewMessage, StoredMessage
from ticketing.db import doubt_connections

log = logging.getLogger("chat.transcripts")

# PostgreSQL may abort a group commit to break a deadlock or a serialization conflict;
# it is retried at once (twice at most) instead of failing every message in it.
CONFLICT_RETRIES = 2
CONFLICTS = frozenset({"40P01", "40001"})
# A database that does not answer a connection attempt fails the batch after this long
# (asyncpg's own default is a minute, which clients would spend waiting for an ack).
CONNECT_TIMEOUT_SECONDS = 10.0

_MESSAGES = ChatMessage.__table__.name
_CHATS = Chat.__table__.name
_RESENDS = f"""
SELECT m.chat_id, m.seq, m.sender, m.sender_id, m.author_name, m.body, m.client_id,
       m.i18n::text, m.created_at
FROM unnest($1::integer[], $2::text[], $3::text[]) AS k(chat_id, sender, client_id)
JOIN {_MESSAGES} AS m
  ON m.chat_id = k.chat_id AND m.sender = k.sender AND m.client_id = k.client_id
"""
# In id order, so two processes (and the endings, chat/endings.py) never deadlock.
_LOCK_CHATS = f"""
SELECT id, state, last_seq FROM {_CHATS} WHERE id = ANY($1::integer[]) ORDER BY id FOR UPDATE
"""
# The counters and the new lines in one statement (one round trip): a data-modifying
# WITH runs to completion whether or not the INSERT reads it.
_STORE = f"""
WITH bumped AS (
  UPDATE {_CHATS} SET
    last_seq = v.seq_to,
    last_customer_activity_at = coalesce(v.activity, {_CHATS}.last_customer_activity_at)
  FROM unnest($1::integer[], $2::integer[], $3::timestamptz[]) AS v(id, seq_to, activity)
  WHERE {_CHATS}.id = v.id
)
INSERT INTO {_MESSAGES}
  (chat_id, seq, sender, sender_id, author_name, body, client_id, i18n, created_at)
SELECT chat_id, seq, sender, sender_id, author_name, body, client_id, i18n::json, created_at
FROM unnest($4::integer[], $5::integer[], $6::text[], $7::integer[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::timestamptz[])
  AS r(chat_id, seq, sender, sender_id, author_name, body, client_id, i18n, created_at)
"""
# Every execution of the writer's prepared statements is planned for its own arguments
# and the tables as they are now. PostgreSQL otherwise switches a prepared statement to
# one generic plan after five executions and keeps it until the next ANALYZE: made while
# `chat_messages` was nearly empty, that plan scanned the whole table for every resend
# lookup, and in a rate sweep the lookup grew from 0.8 to 15 ms per commit in 75 s.
_CUSTOM_PLANS = {"plan_cache_mode": "force_custom_plan"}
# Keyword arguments SQLAlchemy's asyncpg adapter consumes itself; asyncpg.connect does not.
_ADAPTER_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


class PostgresWriter:
    """Stores group commits on PostgreSQL through one asyncpg connection it owns.

    One connection per process, outside the engine's pool: the writer's transactions are
    short and strictly one at a time, and owning the connection keeps asyncpg's prepared
    statements alive across commits. A connection that fails is dropped and the next
    batch opens a new one, so the writer recovers by itself when PostgreSQL comes back.
    """

    def __init__(
        self, connect_kwargs: dict[str, Any], on_lost: Callable[[], None] | None = None
    ) -> None:
        self._connect_kwargs = connect_kwargs
        # Told when the connection is lost: the engine's pool most likely lost its too.
        self._on_lost = on_lost
        self._conn: asyncpg.Connection | None = None

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> PostgresWriter | None:
        """A writer for a PostgreSQL engine, connecting as the engine does; None otherwise."""
        if engine.url.get_backend_name() != "postgresql":
            return None
        args, kwargs = engine.sync_engine.dialect.create_connect_args(engine.url)
        if args:
            raise ValueError("a PostgreSQL URL with positional connect arguments")
        for name in _ADAPTER_ONLY:
            kwargs.pop(name, None)
        kwargs.setdefault("timeout", CONNECT_TIMEOUT_SECONDS)
        kwargs["server_settings"] = {**kwargs.get("server_settings", {}), **_CUSTOM_PLANS}
        return cls(kwargs, on_lost=lambda: doubt_connections(engine))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=5)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                conn.terminate()

    async def append(
        self, messages: Sequence[NewMessage], now: dt.datetime
    ) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        """One transaction; a deadlock or serialization conflict is retried."""
        for attempt in range(CONFLICT_RETRIES + 1):
            conn, transaction = await self._begin()
            try:
                results = await self._append(conn, messages, now)
                await transaction.commit()
                return results
            except asyncpg.PostgresError as exc:
                if exc.sqlstate in CONFLICTS and attempt < CONFLICT_RETRIES:
                    log.info("group commit retried after a conflict: %s", exc.sqlstate)
                    try:
                        await transaction.rollback()
                        continue
                    except BaseException:
                        self._drop()
                        raise
                self._drop()
                raise
            except BaseException:
                # Whatever failed (the connection, a statement, a cancelled task), the
                # connection's state is unknown: closing it rolls the transaction back
                # on the server, and the next batch starts on a new connection.
                self._drop()
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _begin(self) -> tuple[asyncpg.Connection, Transaction]:
        """BEGIN on a live connection.

        A connection that died while idle (PostgreSQL restarted, its backend terminated)
        is often noticed only here, before anything of the batch was sent; that is retried
        once on a new connection instead of refusing the batch.
        """
        for fresh in (self._conn is None or self._conn.is_closed(), True):
            conn = await self._connection()
            transaction = conn.transaction()
            try:
                await transaction.start()
                return conn, transaction
            except BaseException as exc:
                failed = isinstance(exc, Exception)  # not a cancellation
                self._drop(lost=failed)
                if fresh or not failed:
                    raise
        raise AssertionError("unreachable: a fresh connection returns or raises")

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and self._conn.is_closed():
            self._drop()  # closed while idle
        if self._conn is None:
            self._conn = await asyncpg.connect(**self._connect_kwargs)
        return self._conn

    def _drop(self, *, lost: bool = False) -> None:
        """Close the connection; `lost` (or found closed under us: PostgreSQL restarted,
        the network broke) tells the engine's pool too."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if (lost or conn.is_closed()) and self._on_lost is not None:
            self._on_lost()
        conn.terminate()

    @staticmethod
    async def _append(
        conn: asyncpg.Connection, messages: Sequence[NewMessage], now: dt.datetime
    ) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        batch = GroupCommit(messages)
        found: list[StoredMessage] = []
        if batch.keys:
            keys = sorted(batch.keys)
            rows = await conn.fetch(
                _RESENDS, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]
            )
            found = [
                StoredMessage(*row[:7], None if row[7] is None else json.loads(row[7]), row[8])
                for row in rows
            ]
        chat_ids = batch.classify(found)
        if chat_ids:
            state_of = {
                row[0]: (ChatState(row[1]), row[2])
                for row in await conn.fetch(_LOCK_CHATS, chat_ids)
            }
            counters, new_rows = batch.number(state_of, now)
            if new_rows:  # and so counters: one per open chat with new lines
                await conn.execute(
                    _STORE,
                    [c["chat"] for c in counters],
                    [c["seq_to"] for c in counters],
                    [c["activity"] for c in counters],
                    [r.chat_id for r in new_rows],
                    [r.seq for r in new_rows],
                    [r.sender for r in new_rows],
                    [r.sender_id for r in new_rows],
                    [r.author_name for r in new_rows],
                    [r.body for r in new_rows],
                    [r.client_id for r in new_rows],
                    # JSON null for no i18n, as the ORM and the other writers store it.
                    [json.dumps(r.i18n) for r in new_rows],
                    [r.created_at for r in new_rows],
                )
        return batch.outcome()
