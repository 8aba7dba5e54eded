"""After a run, from the database: nothing said was lost or doubled, every chat is one ticket.

The generator knows what it sent (every `client_id`, per chat and side) and which
chats it ended and rated; the database must agree exactly. A fast server that
drops or duplicates messages under load would otherwise look like a good result.
Checked per chat of this run only, so a shared PostgreSQL with other data is fine:

* every `client_id` the server acknowledged is stored exactly once, by the side that
  sent it; none is stored twice; no other client message was stored (messages sent
  but never acknowledged — the client gave up first — are counted, not failed);
* the opening message (`start_chat`, no client id) is `seq` 1 and the transcript is
  numbered 1..`chats.last_seq` without gaps;
* every chat that ended is `ended` and has exactly one ticket (`tickets.chat_id`),
  the one `chats.ticket_id` names, whose thread holds the whole transcript;
* the survey of every rated chat holds the rating the customer gave.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text

from bench.loadgen import ChatRun

CHUNK = 500
MAX_EXAMPLES = 5


@dataclass
class Check:
    name: str
    failures: int = 0
    examples: list[str] = field(default_factory=list)

    def fail(self, example: str) -> None:
        self.failures += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    @property
    def ok(self) -> bool:
        return self.failures == 0


@dataclass
class Verification:
    chats: int
    messages_sent: int
    messages_stored: int
    checks: list[Check]
    notes: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def summary(self) -> str:
        notes = "".join(f"; {n.failures} {n.name}" for n in self.notes if n.failures)
        if self.ok:
            return (
                f"OK ({self.chats} chats, {self.messages_stored} of {self.messages_sent} "
                f"client messages stored, each acknowledged one exactly once; one ticket per "
                f"ended chat{notes})"
            )
        bad = "; ".join(
            f"{c.name}: {c.failures} ({', '.join(c.examples)})" for c in self.checks if not c.ok
        )
        return f"FAILED — {bad}{notes}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "checks": {
                c.name: {"failures": c.failures, "examples": c.examples} for c in self.checks
            },
        }


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


async def _rows(session: Any, sql: str, ids: Sequence[int]) -> list[Any]:
    query = text(sql).bindparams(bindparam("ids", expanding=True))
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows.extend((await session.execute(query, {"ids": chunk})).all())
    return rows


async def verify(
    database_url: str, chats: Sequence[ChatRun], acked: set[str] | None = None
) -> Verification:
    """Compare what the generator sent with what the database holds (read-only)."""
    from ticketing.db import create_engine, create_sessionmaker

    runs = {c.server_id: c for c in chats if c.server_id is not None}
    ids = sorted(runs)
    sent_total = sum(len(c.sent["customer"]) + len(c.sent["agent"]) for c in chats)
    unknown = Check("every chat got a server id")
    for chat in chats:
        if chat.server_id is None:
            unknown.fail(chat.name)
    # A message the server acknowledged must be stored exactly once: that is the promise.
    # One it never acknowledged (the client gave up first, e.g. at the run's deadline) may
    # be missing — a real client resends it — but never stored twice.
    stored_once = Check("every acknowledged client_id stored exactly once")
    at_most_once = Check("no client_id stored twice")
    unacked = Check("sent but never acknowledged (not an error: the client gave up)")
    numbering = Check("opening message is seq 1, seq has no gaps")
    one_ticket = Check("every ended chat has exactly one ticket")
    transcript = Check("ticket thread holds the whole transcript")
    surveys = Check("every rating stored")

    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            messages = await _rows(
                session,
                "SELECT chat_id, seq, sender, client_id FROM chat_messages WHERE chat_id IN :ids",
                ids,
            )
            chat_rows = await _rows(
                session,
                "SELECT id, state, ticket_id, last_seq FROM chats WHERE id IN :ids",
                ids,
            )
            tickets = await _rows(
                session, "SELECT id, chat_id FROM tickets WHERE chat_id IN :ids", ids
            )
            ticket_ids = sorted({t.id for t in tickets})
            thread = await _rows(
                session,
                "SELECT ticket_id, COUNT(*) AS n FROM ticket_messages "
                "WHERE ticket_id IN :ids GROUP BY ticket_id",
                ticket_ids,
            )
            ratings = await _rows(
                session, "SELECT ticket_id, rating FROM surveys WHERE ticket_id IN :ids", ticket_ids
            )
    finally:
        await engine.dispose()

    by_chat: dict[int, list[Any]] = defaultdict(list)
    for row in messages:
        by_chat[row.chat_id].append(row)
    for chat_id, run in runs.items():
        rows = by_chat.get(chat_id, [])
        stored = Counter((r.sender, r.client_id) for r in rows if r.client_id is not None)
        expected = {(side, cid) for side in ("customer", "agent") for cid in run.sent[side]}
        for key in expected:
            count = stored.get(key, 0)
            if count > 1:
                at_most_once.fail(f"chat {chat_id} {key[0]} {key[1][:8]}… stored {count}×")
            elif acked is None or key[1] in acked:
                if count != 1:
                    stored_once.fail(f"chat {chat_id} {key[0]} {key[1][:8]}… stored {count}×")
            elif count == 0:
                unacked.fail(f"chat {chat_id} {key[0]} {key[1][:8]}…")
        for key in stored.keys() - expected:
            stored_once.fail(f"chat {chat_id}: unexpected {key[0]} message {key[1][:8]}…")
        seqs = sorted(r.seq for r in rows)
        first = min(rows, key=lambda r: r.seq, default=None)
        if first is None or first.seq != 1 or first.sender != "customer" or first.client_id:
            numbering.fail(f"chat {chat_id}: no opening message at seq 1")
        if seqs != list(range(1, len(seqs) + 1)):
            numbering.fail(f"chat {chat_id}: seq {seqs[:3]}…{seqs[-3:]} has gaps or repeats")

    chats_by_id = {r.id: r for r in chat_rows}
    tickets_of: dict[int, list[int]] = defaultdict(list)
    for t in tickets:
        tickets_of[t.chat_id].append(t.id)
    thread_size = {r.ticket_id: r.n for r in thread}
    rating_of = {r.ticket_id: r.rating for r in ratings}
    for chat_id, run in runs.items():
        row = chats_by_id.get(chat_id)
        if row is None:
            one_ticket.fail(f"chat {chat_id} not in the database")
            continue
        if row.last_seq != len(by_chat.get(chat_id, [])):
            numbering.fail(
                f"chat {chat_id}: last_seq {row.last_seq} ≠ {len(by_chat[chat_id])} rows"
            )
        if not run.agent_ended.is_set():
            continue  # never ended (a failure the run already reports): no ticket expected
        found = tickets_of.get(chat_id, [])
        if row.state != "ended" or len(found) != 1 or row.ticket_id != found[0]:
            one_ticket.fail(f"chat {chat_id}: state {row.state}, tickets {found}")
            continue
        if thread_size.get(found[0], 0) != len(by_chat.get(chat_id, [])):
            transcript.fail(
                f"ticket {found[0]}: {thread_size.get(found[0], 0)} of "
                f"{len(by_chat.get(chat_id, []))} lines"
            )
        if run.rated.is_set() and rating_of.get(found[0]) != run.rating:
            surveys.fail(f"ticket {found[0]}: rating {rating_of.get(found[0])} ≠ {run.rating}")

    return Verification(
        chats=len(runs),
        messages_sent=sent_total,
        messages_stored=sum(1 for r in messages if r.client_id is not None),
        checks=[unknown, stored_once, at_most_once, numbering, one_ticket, transcript, surveys],
        notes=[unacked],
    )
