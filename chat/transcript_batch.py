"""One group commit of chat messages: what is stored, and the decisions about it.

The message types and the numbering / de-duplication rules every transcript writer
shares (chat/transcripts.py through the async session, chat/sqlite_writer.py,
chat/postgres_writer.py), kept apart from how each of them reads and writes rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, update

from chat.errors import ChatClosed
from chat.models import Chat
from chat.states import OPEN_STATES


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__,
# ~1 µs a message for each of these two, a per cent of a relayed message's CPU. Nothing
# changes them after they are built.
@dataclass(slots=True)
class NewMessage:
    chat_id: int
    sender: str  # customer | agent | system
    sender_id: int | None
    author_name: str
    body: str
    client_id: str | None
    i18n: dict[str, Any] | None = None  # system lines: {"key": …, "params": {…}}
    # A file line (chat/chat_files.py): stored with `append_messages` in the upload's own
    # transaction, never through the group-commit writer, which ignores this field.
    attachment_id: int | None = None

    def stored_as(self, seq: int, now: dt.datetime) -> StoredMessage:
        """This message as the line it becomes: numbered `seq`, stored at `now`."""
        return StoredMessage(
            self.chat_id,
            seq,
            self.sender,
            self.sender_id,
            self.author_name,
            self.body,
            self.client_id,
            self.i18n,
            now,
        )


@dataclass(slots=True)
class StoredMessage:
    """A stored transcript line as the group-commit writer returns it: plain data, no ORM
    state (building and flushing ORM objects was most of the writer's CPU)."""

    chat_id: int
    seq: int
    sender: str
    sender_id: int | None
    author_name: str
    body: str
    client_id: str | None
    i18n: dict[str, Any] | None
    created_at: dt.datetime


STORED_COLUMNS = tuple(f.name for f in dataclasses.fields(StoredMessage))
BUMP_COUNTER = (
    update(Chat.__table__)
    .where(Chat.__table__.c.id == bindparam("chat"))
    .values(
        last_seq=bindparam("seq_to"),
        last_customer_activity_at=func.coalesce(
            bindparam("activity", type_=Chat.__table__.c.last_customer_activity_at.type),
            Chat.__table__.c.last_customer_activity_at,
        ),
    )
)


class GroupCommit:
    """The decisions of one group commit, apart from how its rows are read and written.

    Shared by every way a batch is stored (through the async session, SQLite on the
    writer's own thread, PostgreSQL on the writer's own asyncpg connection), so all of
    them number, de-duplicate and refuse messages the same way: resends answered with the
    stored row, a repeated client id in the batch answered with its first copy, a closed
    chat refused whole.
    """

    def __init__(self, messages: Sequence[NewMessage]) -> None:
        self.messages = messages
        self.keys = {(m.chat_id, m.sender, m.client_id) for m in messages if m.client_id}
        self.results: list[tuple[StoredMessage, bool] | ChatClosed | None] = [None] * len(messages)
        self.fresh: dict[int, list[int]] = {}
        self.repeats: dict[int, int] = {}

    def resend_keys(self) -> list[tuple[int, str, str]]:
        """The (chat_id, sender, client_id) keys to look up, each an exact probe of the
        unique index on those columns. A looser filter (the batch's chat ids and its client
        ids apart) reads every line of every chat in the batch: a group commit then cost
        more with every line its chats already held (docs/performance.md)."""
        return sorted(self.keys)

    def distinct(self) -> list[int]:
        """The messages to store or look up, in batch order: all but the repeats of a client
        id earlier in the batch, which `outcome` answers with their first copy's."""
        first_in_batch: dict[tuple[int, str, str], int] = {}
        indexes = []
        for index, m in enumerate(self.messages):
            if m.client_id:
                key = (m.chat_id, m.sender, m.client_id)
                if key in first_in_batch:
                    self.repeats[index] = first_in_batch[key]
                    continue
                first_in_batch[key] = index
            indexes.append(index)
        return indexes

    def classify(self, found: Iterable[StoredMessage]) -> list[int]:
        """Sort the batch into resends, repeats and fresh messages; returns the chats to lock."""
        stored = {}
        for message in found:
            key = (message.chat_id, message.sender, message.client_id)
            if key in self.keys:
                stored[key] = message
        for index in self.distinct():
            m = self.messages[index]
            key = (m.chat_id, m.sender, m.client_id)
            if m.client_id and key in stored:
                self.results[index] = (stored[key], False)
            else:
                self.fresh.setdefault(m.chat_id, []).append(index)
        return sorted(self.fresh)

    def settle(self, index: int, outcome: tuple[StoredMessage, bool] | ChatClosed) -> None:
        """The outcome of one of `distinct`'s messages, decided elsewhere (in SQL)."""
        self.results[index] = outcome

    def number(
        self, state_of: dict[int, tuple[Any, int]], now: dt.datetime
    ) -> tuple[list[dict[str, Any]], list[StoredMessage]]:
        """Give fresh messages of open chats their seq: the counter updates and new rows."""
        counters: list[dict[str, Any]] = []
        new_rows: list[StoredMessage] = []
        for chat_id in sorted(self.fresh):
            indexes = self.fresh[chat_id]
            state, last_seq = state_of.get(chat_id, (None, 0))
            if state not in OPEN_STATES:
                for index in indexes:
                    self.results[index] = ChatClosed()
                continue
            customer = False
            for seq, index in enumerate(indexes, start=last_seq + 1):
                m = self.messages[index]
                customer = customer or m.sender == "customer"
                row = m.stored_as(seq, now)
                new_rows.append(row)
                self.results[index] = (row, True)
            counters.append(
                {
                    "chat": chat_id,
                    "seq_to": last_seq + len(indexes),
                    "activity": now if customer else None,
                }
            )
        return counters, new_rows

    def outcome(self) -> list[tuple[StoredMessage, bool] | ChatClosed]:
        for index, original in self.repeats.items():
            first = self.results[original]
            assert first is not None  # the first of a repeated id is fresh or closed
            self.results[index] = first if isinstance(first, ChatClosed) else (first[0], False)
        return [r for r in self.results if r is not None]
