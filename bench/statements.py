"""SQL statements per chat-lifecycle call on PostgreSQL (issue #3: round trips are the cost).

`python -m bench.statements [--chats 5]`

Starts its own PostgreSQL (tests/faults/services.py), migrates and seeds it, puts the
first agent online, then for each of `--chats` new customers: `start_chat`, one routing
pass (`Dispatcher.route`, called here rather than woken, so it is counted on its own),
`accept`, a 30-line transcript in bulk, and `end_chat` with its conversion. Every
statement the engine sends is counted by a `before_cursor_execute` listener; what runs
in the background after each call (the desk refresh an event wakes) is counted apart.
`--show` prints the statements of the last chat's calls.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import event, insert, select

from tests.faults.services import own_postgres


async def run(chats: int, show: bool) -> dict[str, list[int]]:
    from chat.migrate import upgrade
    from chat.models import ChatMessage
    from chat.runtime import Runtime
    from chat.seed import bootstrap
    from chat.settings import Settings
    from chat.states import EndedBy
    from ticketing.db import transaction
    from ticketing.models import Agent, Customer, Service

    counts: dict[str, list[int]] = defaultdict(list)
    async with own_postgres() as pg:
        await asyncio.to_thread(upgrade, pg.url)
        settings = Settings.from_env(
            {"DATABASE_URL": pg.url, "SECRET_KEY": "statements-bench-" + "x" * 32}
        )
        runtime = await Runtime.start(settings, run_timers=False)
        seen: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(" ".join(statement.split())[:160])

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
        service = runtime.service
        service.route_requested = None  # routing is called (and counted) explicitly
        try:
            await bootstrap(runtime.sessions, "UTC")
            async with transaction(runtime.sessions) as session:
                agent_id = await session.scalar(select(Agent.id).order_by(Agent.id))
                service_id = await session.scalar(select(Service.id).order_by(Service.id))
                customer_ids = list(
                    await session.scalars(
                        insert(Customer).returning(Customer.id),
                        [{"name": f"Customer {i}", "lang": "en"} for i in range(chats)],
                    )
                )
            await runtime.dispatcher.open_connection(agent_id)
            await service.set_presence(agent_id, "online")
            await asyncio.sleep(0.3)

            async def measure(name: str, call: Any) -> Any:
                seen.clear()
                result = await call
                counts[name].append(len(seen))
                if show:
                    print(f"--- {name}: {len(seen)}")
                    print("\n".join(f"  {s}" for s in seen))
                seen.clear()
                await asyncio.sleep(0.3)
                counts[name + " (background)"].append(len(seen))
                return result

            for customer_id in customer_ids:
                snap = await measure(
                    "start_chat",
                    service.start_chat(
                        customer_id, service_id, f"Customer {customer_id}", None, None, "Hello"
                    ),
                )
                await measure("route", runtime.dispatcher.route())
                await measure("accept", service.accept(agent_id, snap["id"]))
                async with transaction(runtime.sessions) as session:
                    now = dt.datetime.now(dt.UTC)
                    await session.execute(
                        insert(ChatMessage),
                        [
                            {
                                "chat_id": snap["id"],
                                "seq": 100 + i,
                                "sender": "customer",
                                "author_name": "Customer",
                                "body": f"line {i}",
                                "created_at": now,
                            }
                            for i in range(30)
                        ],
                    )
                await measure("end_chat", service.end_chat(snap["id"], EndedBy.AGENT))
        finally:
            await runtime.stop()
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--show", action="store_true")
    args = parser.parse_args(argv)
    counts = asyncio.run(run(args.chats, args.show))
    for name, values in counts.items():
        print(f"{name:28} {values}")


if __name__ == "__main__":
    main()
