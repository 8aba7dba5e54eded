"""The transcript writer's PostgreSQL path: group commits on an asyncpg connection of its own.

Through the async session a group commit cost ~1.2 ms of client CPU whatever its size
(`bench.writer --database-url …`: SQLAlchemy building and expanding two `IN` selects,
cache keys, result set-up, the session's begin and commit), so on a calm desk, where a
commit holds a few messages, the writer alone cost more than the whole relay. Here a
group commit is one fixed statement that asyncpg prepares once per connection and then
only binds: arrays in, one round trip, no SQL built per commit, and no BEGIN or COMMIT
(a statement is its own transaction; with them and the lookup, the lock and the insert
apart it was five round trips, most of the writer's CPU). chat/transcripts.py decides
when a batch is written; this module only how, as chat/sqlite_writer.py does on SQLite.

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
from sqlalchemy.ext.asyncio import AsyncEngine

from chat.errors import ChatClosed
from chat.models import Chat, ChatMessage
from chat.states import OPEN_STATES
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
# A whole group commit in one statement, so one round trip and no BEGIN or COMMIT: a
# single statement is its own transaction. Its input is the batch's distinct messages
# (GroupCommit.distinct); it answers each by its place in that list (`ord`): stored now
# (fresh, with its seq), stored before (a resend: the stored row), or absent (its chat is
# not open, or not there). The rules are chat/transcript_batch.py's: a resend is looked up
# by the unique index on (chat_id, sender, client_id); the chats that get new lines are
# locked in id order (as chat/endings.py locks them, so the two never deadlock); their
# lines are numbered on from the locked counter in batch order; a customer's line moves
# the chat's activity time.
_STORE = f"""
WITH batch AS (
  SELECT * FROM unnest($1::integer[], $2::text[], $3::integer[], $4::text[], $5::text[],
                       $6::text[], $7::text[])
    WITH ORDINALITY AS b(chat_id, sender, sender_id, author_name, body, client_id, i18n, ord)
), stored AS (
  SELECT b.ord, m.seq, m.sender_id, m.author_name, m.body, m.i18n::text AS i18n, m.created_at
  FROM batch AS b
  JOIN {_MESSAGES} AS m
    ON m.chat_id = b.chat_id AND m.sender = b.sender AND m.client_id = b.client_id
), fresh AS (
  SELECT * FROM batch WHERE ord NOT IN (SELECT ord FROM stored)
), locked AS (
  SELECT id, state, last_seq FROM {_CHATS}
  WHERE id IN (SELECT chat_id FROM fresh) ORDER BY id FOR UPDATE
), numbered AS (
  SELECT f.*, l.last_seq + row_number() OVER (PARTITION BY f.chat_id ORDER BY f.ord) AS seq
  FROM fresh AS f JOIN locked AS l ON l.id = f.chat_id
  WHERE l.state = ANY($9::text[])
), bumped AS (
  UPDATE {_CHATS} SET
    last_seq = n.seq_to,
    last_customer_activity_at = CASE WHEN n.customer THEN $8
                                     ELSE {_CHATS}.last_customer_activity_at END
  FROM (SELECT chat_id, max(seq) AS seq_to, bool_or(sender = 'customer') AS customer
        FROM numbered GROUP BY chat_id) AS n
  WHERE {_CHATS}.id = n.chat_id
), inserted AS (
  INSERT INTO {_MESSAGES}
    (chat_id, seq, sender, sender_id, author_name, body, client_id, i18n, created_at)
  SELECT chat_id, seq, sender, sender_id, author_name, body, client_id, i18n::json, $8
  FROM numbered
)
SELECT ord, seq, TRUE AS fresh, NULL::integer AS sender_id, NULL::text AS author_name,
       NULL::text AS body, NULL::text AS i18n, NULL::timestamptz AS created_at
FROM numbered
UNION ALL
SELECT ord, seq, FALSE, sender_id, author_name, body, i18n, created_at FROM stored
"""
# What a lost connection raises (asyncpg's own, or the socket's).
_CONNECTION_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)
_OPEN_STATES = sorted(state.value for state in OPEN_STATES)
# JSON null for no i18n, as the ORM and the other writers store it.
_NO_I18N = "null"
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
        """One statement (its own transaction); a deadlock or serialization conflict is
        retried, and so is a connection found dead when the statement is sent."""
        for attempt in range(CONFLICT_RETRIES + 1):
            fresh = self._conn is None or self._conn.is_closed()
            conn = await self._connection()
            try:
                return await self._append(conn, messages, now)
            except BaseException as exc:
                if (
                    isinstance(exc, asyncpg.PostgresError)
                    and exc.sqlstate in CONFLICTS
                    and attempt < CONFLICT_RETRIES
                ):
                    log.info("group commit retried after a conflict: %s", exc.sqlstate)
                    continue
                # Whatever else failed, the connection's state is unknown: the next batch
                # starts on a new one. A connection that died while idle (PostgreSQL
                # restarted, its backend terminated) is often noticed only now; the batch
                # is then tried once more on a new connection instead of being refused.
                # Had the lost statement committed, the retry finds its messages stored
                # and answers them as resends.
                lost = isinstance(exc, _CONNECTION_LOST) or conn.is_closed()
                self._drop(lost=lost)
                if fresh or not lost or attempt == CONFLICT_RETRIES:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

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
        indexes = batch.distinct()
        sent = [messages[i] for i in indexes]
        rows = await conn.fetch(
            _STORE,
            [m.chat_id for m in sent],
            [m.sender for m in sent],
            [m.sender_id for m in sent],
            [m.author_name for m in sent],
            [m.body for m in sent],
            [m.client_id for m in sent],
            [_NO_I18N if m.i18n is None else json.dumps(m.i18n) for m in sent],
            now,
            _OPEN_STATES,
        )
        answered = {row[0]: row for row in rows}
        for ord_, (index, m) in enumerate(zip(indexes, sent, strict=True), start=1):
            row = answered.get(ord_)
            if row is None:
                batch.settle(index, ChatClosed())
            elif row[2]:  # stored now
                batch.settle(index, (m.stored_as(row[1], now), True))
            else:  # a resend: the row stored before
                i18n = None if row[6] is None else json.loads(row[6])
                stored = StoredMessage(
                    m.chat_id, row[1], m.sender, row[3], row[4], row[5], m.client_id, i18n, row[7]
                )
                batch.settle(index, (stored, False))
        return batch.outcome()
