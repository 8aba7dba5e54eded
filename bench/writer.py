"""CPU per stored message of the transcript writer alone, by group-commit size.

    python -m bench.writer                       # this checkout
    python -m bench.writer --app-dir /tmp/other  # a copy with a patch applied
    python -m bench.writer --database-url postgresql://postgres@127.0.0.1/writer_bench

The end-to-end run (`bench.run`) mixes the writer with the websocket edges, the hub
and the timers, and on a busy machine its batch sizes depend on how starved the
server was. This isolates the one thing the profile says dominates: `N` messages of
`N` different chats submitted in one event-loop pass (one group commit), repeated,
with the process's CPU time (all threads: SQLite runs on aiosqlite's) divided by the
messages stored. CPU time, not wall time, so other load on the machine barely moves it.
With `--database-url` the database (dropped and created again for each size, so it must
be one the bench may own) is PostgreSQL; the CPU is still only this process's: the
client side of each commit, which is what the server's process pays per message.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.metrics import postgres_cpu_seconds

REPO = Path(__file__).resolve().parent.parent


async def measure(database_url: str, chats: int, sizes: list[int], rounds: int) -> list[str]:
    transcripts = importlib.import_module("chat.transcripts")
    models = importlib.import_module("chat.models")
    states = importlib.import_module("chat.states")
    bus_module = importlib.import_module("chat.bus")
    seed = importlib.import_module("chat.seed")
    db = importlib.import_module("ticketing.db")
    ticketing_models = importlib.import_module("ticketing.models")
    clock = importlib.import_module("ticketing.clock")

    engine = db.create_engine(database_url)
    sessions = db.create_sessionmaker(engine)
    now = dt.datetime.now(dt.UTC)
    async with db.transaction(sessions) as session:
        await seed.seed_services(session)
        customer = ticketing_models.Customer(name="Bench")
        session.add(customer)
        await session.flush()
        rows = [
            models.Chat(
                customer_id=customer.id,
                service_id=1,
                state=states.ChatState.ACTIVE,
                queued_at=now,
                created_at=now,
                last_customer_activity_at=now,
                declined_agent_ids=[],
            )
            for _ in range(chats)
        ]
        session.add_all(rows)
        await session.flush()
        chat_ids = [c.id for c in rows]
    bus = bus_module.Bus()
    await bus.connect()
    writer = transcripts.TranscriptWriter(sessions, bus, clock.SystemClock())
    await writer.start()
    lines: list[str] = []
    try:
        for size in sizes:
            await _round(transcripts, writer, chat_ids, size)  # warm the statement caches
            cpu, wall = time.process_time(), time.perf_counter()
            pg = postgres_cpu_seconds()
            for _ in range(rounds):
                await _round(transcripts, writer, chat_ids, size)
            n = size * rounds
            cpu_us = (time.process_time() - cpu) * 1e6 / n
            wall_us = (time.perf_counter() - wall) * 1e6 / n
            pg_us = (postgres_cpu_seconds() - pg) * 1e6 / n
            pg_column = f" {pg_us:,.0f} |" if database_url.startswith("postgresql") else " – |"
            lines.append(f"| {size} | {cpu_us:,.0f} | {wall_us:,.0f} |{pg_column}")
            print(lines[-1], flush=True)
    finally:
        await writer.stop()
        await bus.disconnect()
        await engine.dispose()
    return lines


async def _round(transcripts: Any, writer: Any, chat_ids: list[int], size: int) -> None:
    """`size` messages, each to another chat, all in one event-loop pass: one commit."""
    await asyncio.gather(
        *(
            writer.append(
                transcripts.NewMessage(
                    chat_ids[i % len(chat_ids)],
                    "customer" if i % 2 else "agent",
                    1,
                    "Bench",
                    "A message of about the size people type in a support chat, say.",
                    uuid.uuid4().hex,
                )
            )
            for i in range(size)
        )
    )


async def _recreate(url: str) -> None:
    """Drop and create the PostgreSQL database `url` names (through the `postgres` one)."""
    import asyncpg

    base, _, name = url.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")
    admin = await asyncpg.connect(f"{base}/postgres", timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.writer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--app-dir", type=Path, default=REPO)
    parser.add_argument("--sizes", default="1,10,50,200")
    parser.add_argument("--rounds", type=int, default=0, help="default: ~2,000 messages a size")
    parser.add_argument(
        "--database-url", default="", help="a PostgreSQL database to (re)create; default SQLite"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.app_dir.resolve()))
    sizes = [int(s) for s in args.sizes.split(",")]
    migrate = importlib.import_module("chat.migrate")
    with tempfile.TemporaryDirectory(prefix="writer-bench-") as tmp:
        where = args.database_url or f"SQLite in {tmp}"
        print(f"transcript writer from {args.app_dir}, {where}")
        rounds = {s: args.rounds or max(5, 2000 // s) for s in sizes}
        lines = [
            "| messages per group commit | CPU µs/msg | wall µs/msg | PostgreSQL CPU µs/msg |",
            "|---:|---:|---:|---:|",
        ]
        print("\n".join(lines), flush=True)
        for size in sizes:
            try:
                import uvloop

                run = uvloop.run
            except ImportError:
                run = asyncio.run
            # A fresh database for each size, so table sizes stay comparable; Alembic is
            # synchronous, so it runs before the event loop starts.
            url = f"sqlite+aiosqlite:///{tmp}/writer-{size}.db"
            if args.database_url:
                url = args.database_url
                run(_recreate(url))
            migrate.upgrade(url)
            run(measure(url, max(size, 200), [size], rounds[size]))


if __name__ == "__main__":
    main()
