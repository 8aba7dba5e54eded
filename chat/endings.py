"""Chat endings, grouped: the endings waiting at one moment share one transaction.

An ending locks its chat, writes the closing line, converts the chat to its one ticket
(thread, history, survey) and moves it to `ended`: all of it or none of it (DESIGN.md
principle 3). Endings come in bursts — a desk closing its chats at the end of the day, a
sweep ending idle chats, both sides pressing "end" at once — and on PostgreSQL every
statement is a round trip. So, like the transcript writer's group commit, the endings
that arrive while one transaction runs are done together in the next, with the same
statements for one chat or a hundred (`bench/conversions.py` measures it).

A chat that cannot end (not found, not yours, already closed) gets its own error and
leaves the others alone. A database error fails the group; each ending is then retried
alone, so a bad row fails only itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.errors import ChatClosed, ChatNotFound
from chat.grouped import Grouped, Outcome, answered
from chat.models import Chat, ChatMessage
from chat.states import OPEN_STATES, ChatState, EndedBy, SurveyState, sources_of
from chat.transcripts import TRANSCRIPTS_OF, StoredMessage, message_frame, system_line
from ticketing import events
from ticketing.conversion import FinishedChat, TranscriptFile, TranscriptLine, convert_chats
from ticketing.db import transaction
from ticketing.models import Agent, AuthorType, Customer, TicketStatus

if TYPE_CHECKING:
    from chat.lifecycle import ChatService

log = logging.getLogger("chat.endings")

# Endings per transaction: a burst larger than this is several transactions in a row.
MAX_GROUP = 100

_WHO = {
    EndedBy.AGENT: "the agent",
    EndedBy.CUSTOMER: "the customer",
    EndedBy.INACTIVITY: "inactivity",
    EndedBy.SYSTEM: "the system",
}
_ENDABLE = OPEN_STATES & sources_of(ChatState.ENDED)

# An ending group's reads and counter update, built once with bound parameters: building
# a statement costs about as much CPU as running it (chat/desk.py).
# The customers come along (not locked): the ticket's notice and webhooks then find
# each requester in the session, not one SELECT per chat.
_LOCK = (
    select(Chat, Agent.name, Customer)
    .outerjoin(Agent, Agent.id == Chat.agent_id)
    .join(Customer, Customer.id == Chat.customer_id)
    .where(Chat.id.in_(bindparam("chat_ids", expanding=True)))
    .order_by(Chat.id)
    .with_for_update(of=Chat)
    .execution_options(populate_existing=True)
)
_chats = Chat.__table__
_CLOSING_SEQS = (
    update(_chats)
    .where(
        _chats.c.id.in_(bindparam("chat_ids", expanding=True)),
        _chats.c.state.in_(sorted(_ENDABLE)),
    )
    .values(last_seq=_chats.c.last_seq + 1)
    .returning(_chats.c.id, _chats.c.last_seq)
)


@dataclass(frozen=True)
class Ending:
    """One request to end a chat, with who asks (None: no check, e.g. the system)."""

    chat_id: int
    ended_by: EndedBy
    status: TicketStatus | None = None
    agent: Agent | None = None
    customer_id: int | None = None


class Endings(Grouped[Ending]):
    """Queues endings and runs them in groups; `end` answers each with its chat's snapshot."""

    noun = "endings"

    def __init__(self, service: ChatService) -> None:
        super().__init__(MAX_GROUP)
        self._service = service

    async def end(self, ending: Ending) -> dict[str, Any]:
        return await self.submit(ending)

    async def together(self, endings: Sequence[Ending]) -> list[Outcome]:
        """One transaction for every ending given; publishes after it commits."""
        service = self._service
        now = service.clock.now()
        outcomes: list[Outcome | None] = [None] * len(endings)
        outbox = service.new_outbox(route=True)  # an ending frees an agent: route
        async with transaction(service.sessions) as session:
            chats = await _lock(session, {e.chat_id for e in endings})
            taken: dict[int, int] = {}  # chat id → index of the ending that ends it
            for index, ending in enumerate(endings):
                found = chats.get(ending.chat_id)
                if found is None or not _may_end(ending, found[0]):
                    outcomes[index] = ChatNotFound()
                elif found[0].state not in _ENDABLE or ending.chat_id in taken:
                    outcomes[index] = ChatClosed()  # the first end stands
                else:
                    taken[ending.chat_id] = index
            if not taken:
                return answered(outcomes)
            # What the closing line and the ticket depend on, read before anything moves.
            before = {chat_id: _Before.of(chats[chat_id][0]) for chat_id in taken}
            seqs = await _closing_seqs(session, list(taken))
            for chat_id in list(taken):
                if chat_id not in seqs:  # closed since it was read (SQLite reads unlocked)
                    outcomes[taken.pop(chat_id)] = ChatClosed()
            transcripts = await transcripts_of(session, list(taken))
            closing: dict[int, StoredMessage] = {}
            finished: list[FinishedChat] = []
            for chat_id, index in taken.items():
                ending, chat, was = endings[index], chats[chat_id][0], before[chat_id]
                status = ending.status or (
                    TicketStatus.RESOLVED if was.had_agent else TicketStatus.NEW
                )
                line = closing[chat_id] = _closing_line(chat_id, seqs[chat_id], ending, now)
                transcript = transcripts.get(chat_id, [])
                transcript.append(
                    TranscriptLine(AuthorType.SYSTEM, None, "", line.body, line.created_at)
                )
                finished.append(finished_chat(chat, status, was.had_agent, transcript))
            await session.execute(
                ChatMessage.__table__.insert(),
                [
                    {
                        "chat_id": m.chat_id,
                        "seq": m.seq,
                        "sender": m.sender,
                        "sender_id": None,
                        "author_name": m.author_name,
                        "body": m.body,
                        "client_id": None,
                        "i18n": m.i18n,
                        "attachment_id": None,
                        "created_at": m.created_at,
                    }
                    for m in closing.values()
                ],
            )
            tickets = await convert_chats(session, finished, now)
            for done, ticket in zip(finished, tickets, strict=True):
                chat, was = chats[done.chat_id][0], before[done.chat_id]
                ended_by = endings[taken[done.chat_id]].ended_by
                chat.state = ChatState.ENDED
                chat.last_seq = closing[done.chat_id].seq
                chat.ended_at = now
                chat.ended_by = ended_by
                chat.end_status = done.status.value
                chat.offered_agent_id = None
                chat.offer_expires_at = None
                chat.ticket_id = ticket.id
                chat.survey = SurveyState.PENDING if was.had_agent else SurveyState.NONE
                await events.emit(
                    session,
                    events.DomainEvent(
                        events.CHAT_ENDED,
                        now,
                        ticket.id,
                        done.chat_id,
                        {"ended_by": ended_by.value, "status": done.status.value, "missed": False},
                    ),
                )
            await session.flush()  # the transitions: one UPDATE per chat, sent together
            for done, ticket in zip(finished, tickets, strict=True):
                chat_id = done.chat_id
                chat, agent_name = chats[chat_id]
                first_message = next(
                    (t.body for t in done.transcript if t.author_type is AuthorType.CUSTOMER),
                    None,
                )
                outbox.add(f"chat:{chat_id}", message_frame(closing[chat_id]))
                snap = service.chat_event(chat, agent_name, first_message, outbox)
                outbox.add(
                    f"chat:{chat_id}",
                    {
                        "type": "ended",
                        "chat_id": chat_id,
                        "ended_by": chat.ended_by.value,  # type: ignore[union-attr]
                        "ticket_id": ticket.id,
                    },
                )
                if before[chat_id].had_agent:
                    outbox.add(
                        f"chat:{chat_id}",
                        {"type": "survey", "chat_id": chat_id, "ticket_id": ticket.id},
                    )
                if before[chat_id].offered_to:
                    outbox.add(
                        f"agent:{before[chat_id].offered_to}",
                        {"type": "offer_withdrawn", "chat_id": chat_id, "reason": "customer_left"},
                    )
                outcomes[taken[chat_id]] = snap
        service.publish(outbox)
        return answered(outcomes)


def finished_chat(
    chat: Chat, status: TicketStatus, ask_for_rating: bool, transcript: list[TranscriptLine]
) -> FinishedChat:
    """What conversion needs of a chat: plain data (ticketing never imports chat)."""
    return FinishedChat(
        chat_id=chat.id,
        service_id=chat.service_id,
        customer_id=chat.customer_id,
        agent_id=chat.agent_id,
        subject=chat.subject,
        status=status,
        ask_for_rating=ask_for_rating,
        transcript=transcript,
    )


@dataclass(frozen=True)
class _Before:
    had_agent: bool
    offered_to: int | None

    @classmethod
    def of(cls, chat: Chat) -> _Before:
        return cls(chat.state is ChatState.ACTIVE, chat.offered_agent_id)


def _may_end(ending: Ending, chat: Chat) -> bool:
    """Only the chat's customer, its agent or an admin; the system always."""
    if ending.customer_id is not None and chat.customer_id != ending.customer_id:
        return False
    agent = ending.agent
    return agent is None or agent.role == "admin" or chat.agent_id == agent.id


async def _lock(session: AsyncSession, chat_ids: set[int]) -> dict[int, tuple[Chat, str | None]]:
    """The chats with their agents' names, locked in id order on PostgreSQL (the order the
    transcript writer and routing lock them in, so none of them can deadlock)."""
    rows = await session.execute(_LOCK, {"chat_ids": sorted(chat_ids)})
    return {chat.id: (chat, name) for chat, name, _customer in rows}


async def _closing_seqs(session: AsyncSession, chat_ids: list[int]) -> dict[int, int]:
    """Number the closing lines: each chat's counter moved on by one, in one statement.
    On SQLite this first write also takes the write lock, so the transcripts read next
    can no longer gain a line from the transcript writer."""
    rows = await session.execute(_CLOSING_SEQS, {"chat_ids": chat_ids})
    return {chat_id: seq for chat_id, seq in rows}


def _closing_line(chat_id: int, seq: int, ending: Ending, now: dt.datetime) -> StoredMessage:
    by = ending.ended_by
    return system_line(
        chat_id, seq, f"Chat ended by {_WHO[by]}", now, f"system.ended_by_{by.value}"
    )


async def transcripts_of(
    session: AsyncSession, chat_ids: Sequence[int]
) -> dict[int, list[TranscriptLine]]:
    """The chats' transcripts as tickets keep them, in one read: columns, not ORM objects
    (the transcript is most of what an ending reads), files by an outer join."""
    rows = await session.execute(TRANSCRIPTS_OF, {"chat_ids": list(chat_ids)})
    transcripts: dict[int, list[TranscriptLine]] = {}
    for row in rows:
        chat_id, sender, sender_id, author_name, body, created_at, file_id, *about = row
        transcripts.setdefault(chat_id, []).append(
            TranscriptLine(
                AuthorType(sender),
                sender_id,
                author_name,
                body,
                created_at,
                None if file_id is None else _file(*about),
            )
        )
    return transcripts


def _file(
    filename: str,
    content_type: str,
    size: int,
    storage_key: str,
    uploaded_by: str,
    uploader_id: int | None,
    created_at: dt.datetime,
) -> TranscriptFile:
    """A chat file as the ticket keeps it (the same bytes on disk, no copy)."""
    return TranscriptFile(
        filename=filename,
        content_type=content_type,
        size=size,
        storage_key=storage_key,
        uploaded_by=AuthorType(uploaded_by),
        uploader_id=uploader_id,
        created_at=created_at,
    )
