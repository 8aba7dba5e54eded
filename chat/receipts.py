"""Delivered and read receipts: kept in memory, written in batches, relayed after the write.

Each side's client says how far it has received (`delivered`) and shown on screen
(`read`) a chat's transcript, by seq (docs/protocol.md, "Receipts"). A busy chat sends
a few of these a second, so none of them costs a commit: they are coalesced per chat
here and written every RECEIPT_FLUSH_SECONDS in one transaction for every chat, as one
executemany UPDATE that only ever raises a value (`CASE WHEN col < :seq`), so racing
processes and late frames can never move a receipt back. The `receipt` frame goes out
on the bus after that commit (persist, then deliver), so what a client is told is what
a reconnect will find in the chat snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import Integer, bindparam, case, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.bus import Bus
from chat.errors import ChatError, ChatNotFound
from chat.models import Chat
from ticketing.db import transaction

log = logging.getLogger("chat.receipts")

SIDES = ("customer", "agent")
KINDS = ("delivered", "read")
COLUMNS = tuple(f"{side}_{kind}_seq" for side in SIDES for kind in KINDS)
# What we remember per chat (its last seq and stored receipts) so that repeated or
# falling receipts cost no query; past this many chats the memory starts afresh.
MAX_CHATS_REMEMBERED = 20_000

_chats = Chat.__table__
# One statement text for any batch; each column only ever rises (0 = "no news").
_ADVANCE = (
    update(_chats)
    .where(_chats.c.id == bindparam("chat"))
    .values(
        {
            _chats.c[column]: case(
                (
                    _chats.c[column] < bindparam(f"{column}_to", type_=Integer),
                    bindparam(f"{column}_to", type_=Integer),
                ),
                else_=_chats.c[column],
            )
            for column in COLUMNS
        }
    )
)


class SeqOutOfRange(ChatError):
    code = "bad_seq"
    message = "There is no message with that seq in this chat yet."


def receipts_view(chat: Chat) -> dict[str, dict[str, int]]:
    """`{"customer": {"delivered_seq", "read_seq"}, "agent": {…}}` for snapshots."""
    return {
        side: {f"{kind}_seq": int(getattr(chat, f"{side}_{kind}_seq") or 0) for kind in KINDS}
        for side in SIDES
    }


def receipt_frame(chat_id: int, side: str, values: dict[str, int]) -> dict[str, Any]:
    return {
        "type": "receipt",
        "chat_id": chat_id,
        "by": side,
        "delivered_seq": values[f"{side}_delivered_seq"],
        "read_seq": values[f"{side}_read_seq"],
    }


class ReceiptBook:
    """This process's receipts not yet written, and what it knows of each chat's."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], bus: Bus, flush_seconds: float
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._flush_seconds = flush_seconds
        self._pending: dict[int, dict[str, int]] = {}
        # chat id → {"last_seq": …, column: highest value stored or pending}
        self._known: dict[int, dict[str, int]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="receipt-flusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()  # what clients told us in the last second is kept too
        except (OperationalError, DBAPIError, OSError) as exc:
            log.warning("receipts lost at shutdown: %s", exc)

    async def note(self, chat_id: int, side: str, kind: str, seq: int) -> None:
        """`side`'s client has received (`delivered`) or shown (`read`) up to `seq`.

        Raises SeqOutOfRange for a seq the chat doesn't have. Costs a query only when
        `seq` is beyond the last seq this process knows of (lines stored here are known,
        see `saw`; lines from other processes cost one read); never a commit.
        """
        if side not in SIDES or kind not in KINDS:
            raise ValueError(f"no receipt {side}/{kind}")
        known = self._known.get(chat_id)
        if known is None or seq > known["last_seq"]:
            known = await self._load(chat_id)
            if seq > known["last_seq"]:
                raise SeqOutOfRange()
        # Whoever has read a line has also received it.
        columns = (
            (f"{side}_delivered_seq", f"{side}_read_seq")
            if kind == "read"
            else (f"{side}_delivered_seq",)
        )
        for column in columns:
            if seq > known[column]:
                known[column] = seq
                self._pending.setdefault(chat_id, {})[column] = seq
                self._wakeup.set()

    def saw(self, chat_id: int, seq: int) -> None:
        """A line was stored in this process: receipts up to it need no database read."""
        known = self._known.get(chat_id)
        if known is not None and seq > known["last_seq"]:
            known["last_seq"] = seq

    def overlay(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """Raise a chat snapshot's receipts to what this process holds but hasn't written."""
        pending = self._pending.get(snapshot.get("id", 0))
        receipts = snapshot.get("receipts")
        if pending and isinstance(receipts, dict):
            for column, seq in pending.items():
                side, kind, _ = column.split("_")
                entry = receipts[side]
                entry[f"{kind}_seq"] = max(entry[f"{kind}_seq"], seq)
        return snapshot

    async def _load(self, chat_id: int) -> dict[str, int]:
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(_chats.c.last_seq, *(_chats.c[c] for c in COLUMNS)).where(
                        _chats.c.id == chat_id
                    )
                )
            ).first()
        if row is None:
            raise ChatNotFound()
        if len(self._known) >= MAX_CHATS_REMEMBERED:
            self._known.clear()
        pending = self._pending.get(chat_id, {})
        known = {"last_seq": int(row.last_seq or 0)}
        for column in COLUMNS:
            known[column] = max(int(getattr(row, column) or 0), pending.get(column, 0))
        self._known[chat_id] = known
        return known

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            # Everything that arrives meanwhile joins this one write.
            await asyncio.sleep(self._flush_seconds)
            self._wakeup.clear()
            try:
                await self.flush()
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("receipt flush failed, retrying: %s", exc)
                self._wakeup.set()
            except Exception:
                log.exception("receipt flush failed")

    async def flush(self) -> None:
        """Write every pending receipt in one transaction, then relay them."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        chat_ids = sorted(pending)  # id order: the transcript writer locks chats the same way
        params = [
            {"chat": chat_id, **{f"{c}_to": pending[chat_id].get(c, 0) for c in COLUMNS}}
            for chat_id in chat_ids
        ]
        try:
            async with transaction(self._sessions) as session:
                await session.execute(_ADVANCE, params)
                rows = await session.execute(
                    select(_chats.c.id, *(_chats.c[c] for c in COLUMNS)).where(
                        _chats.c.id.in_(chat_ids)
                    )
                )
                stored = {row.id: {c: int(getattr(row, c) or 0) for c in COLUMNS} for row in rows}
        except BaseException:
            for chat_id, columns in pending.items():  # keep them for the next try
                mine = self._pending.setdefault(chat_id, {})
                for column, seq in columns.items():
                    mine[column] = max(mine.get(column, 0), seq)
            raise
        for chat_id in chat_ids:
            values = stored.get(chat_id)
            if values is None:
                continue
            sides = {column.split("_")[0] for column in pending[chat_id]}
            for side in SIDES:
                if side in sides:
                    self._bus.publish(f"chat:{chat_id}", receipt_frame(chat_id, side, values))
