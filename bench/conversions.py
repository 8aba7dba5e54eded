"""Chat → ticket conversions per second on PostgreSQL (issue #3, target ≥ 200/s).

`python -m bench.conversions [--chats 1000] [--lines 30] [--concurrency 8]`

Starts its own PostgreSQL on a free port (tests/faults/services.py), migrates and
seeds it, inserts `--chats` active chats with `--lines`-line transcripts in bulk,
then ends them all through the real path — `ChatService.end_chat`, which locks the
chat, writes the closing system line, moves it to `ended` and converts it to its
ticket (thread, history event, survey, `ticket.created` outbox event) in one
transaction — with `--concurrency` ends in flight. Reports conversions/s, the CPU
of this process per conversion, and checks every chat got exactly one ticket with
its whole transcript. In-process on purpose: it measures the converter, not sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time

from sqlalchemy import func, insert, select, text

from bench.faults.scenario import stamp
from bench.metrics import percentile, self_cpu_seconds
from tests.faults.services import own_postgres

BODY = "I was charged twice for the same month, can you check the invoice for me please?"


async def _seed(
    sessions: object, chats: int, lines: int, agent_ids: list[int] | None = None
) -> list[int]:
    """Active chats with full transcripts, inserted in bulk (not what we measure); held by
    `agent_ids` in turn (default: the first agent)."""
    from chat.models import Chat, ChatMessage
    from chat.states import ChatState
    from ticketing.db import transaction
    from ticketing.models import Agent, Customer, Service

    now = dt.datetime.now(dt.UTC)
    async with transaction(sessions) as session:  # type: ignore[arg-type]
        agent_id = await session.scalar(select(Agent.id).order_by(Agent.id))
        holders = agent_ids or [agent_id]
        service_id = await session.scalar(select(Service.id).order_by(Service.id))
        customer_ids = list(
            await session.scalars(
                insert(Customer).returning(Customer.id),
                [{"name": f"Customer {i}", "lang": "en"} for i in range(chats)],
            )
        )
        chat_ids = list(
            await session.scalars(
                insert(Chat).returning(Chat.id),
                [
                    {
                        "customer_id": cid,
                        "service_id": service_id,
                        "state": ChatState.ACTIVE,
                        "subject": "",
                        "customer_name": f"Customer {i}",
                        "agent_id": holders[i % len(holders)],
                        "accepted_at": now,
                        "last_seq": lines,
                        "declined_agent_ids": [],
                    }
                    for i, cid in enumerate(customer_ids)
                ],
            )
        )
        rows = [
            {
                "chat_id": chat_id,
                "seq": seq,
                "sender": "customer" if seq % 2 else "agent",
                "sender_id": None if seq % 2 else agent_id,
                "author_name": "Customer" if seq % 2 else "Admin",
                "body": f"{seq}: {BODY}",
                "client_id": f"{chat_id}-{seq}",
                "created_at": now,
            }
            for chat_id in chat_ids
            for seq in range(1, lines + 1)
        ]
        for i in range(0, len(rows), 5000):
            await session.execute(insert(ChatMessage), rows[i : i + 5000])
    return chat_ids


async def run(chats: int, lines: int, concurrency: int) -> dict[str, float]:
    from chat.migrate import upgrade
    from chat.runtime import Runtime
    from chat.seed import bootstrap
    from chat.settings import Settings
    from chat.states import EndedBy

    async with own_postgres() as pg:
        await asyncio.to_thread(upgrade, pg.url)
        settings = Settings.from_env(
            {"DATABASE_URL": pg.url, "SECRET_KEY": "conversions-bench-" + "x" * 32}
        )
        runtime = await Runtime.start(settings, run_timers=False)
        try:
            await bootstrap(runtime.sessions, "UTC")
            chat_ids = await _seed(runtime.sessions, chats, lines)
            todo = list(chat_ids)
            took: list[float] = []

            async def worker() -> None:
                while todo:
                    chat_id = todo.pop()
                    t = time.perf_counter()
                    await runtime.service.end_chat(chat_id, EndedBy.AGENT)
                    took.append(time.perf_counter() - t)

            cpu0, t0 = self_cpu_seconds(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            seconds, cpu = time.perf_counter() - t0, self_cpu_seconds() - cpu0
            async with runtime.sessions() as session:
                tickets = await session.scalar(
                    text(
                        "SELECT COUNT(DISTINCT chat_id) FROM tickets WHERE chat_id = ANY(:ids)"
                    ).bindparams(ids=chat_ids)
                )
                lines_stored = await session.scalar(
                    text(
                        "SELECT COUNT(*) FROM ticket_messages m JOIN tickets t "
                        "ON t.id = m.ticket_id WHERE t.chat_id = ANY(:ids)"
                    ).bindparams(ids=chat_ids)
                )
                ended = await session.scalar(
                    select(func.count())
                    .select_from(text("chats"))
                    .where(text("state = 'ended' AND id = ANY(:ids)").bindparams(ids=chat_ids))
                )
        finally:
            await runtime.stop()
    took.sort()
    return {
        "chats": chats,
        "lines": lines,
        "concurrency": concurrency,
        "seconds": seconds,
        "per_second": chats / seconds,
        "cpu_ms_per_conversion": 1000 * cpu / chats,
        "p50_ms": 1000 * percentile(took, 50),
        "p99_ms": 1000 * percentile(took, 99),
        "tickets": float(tickets or 0),
        "ended": float(ended or 0),
        # + 1 per chat: the "Chat ended by the agent" line written by end_chat itself.
        "thread_lines_ok": float(lines_stored == chats * (lines + 1)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.conversions", description=__doc__)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    print(f"conversions bench: {stamp()}")
    r = asyncio.run(run(args.chats, args.lines, args.concurrency))
    print(
        f"{int(r['chats'])} chats × {int(r['lines'])} lines, {int(r['concurrency'])} in flight: "
        f"{r['per_second']:.0f} conversions/s ({r['seconds']:.1f} s), "
        f"{r['cpu_ms_per_conversion']:.2f} ms CPU each (this process), "
        f"end_chat p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms; "
        f"tickets {int(r['tickets'])}, ended {int(r['ended'])}, "
        f"whole transcripts {'yes' if r['thread_lines_ok'] else 'NO'}"
    )


if __name__ == "__main__":
    main()
