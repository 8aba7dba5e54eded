"""SQL statements per chat-lifecycle call on PostgreSQL (issue #3: round trips are the cost).

`python -m bench.statements [--chats 5] [--hellos 3] [--time 200]`

Starts its own PostgreSQL (tests/faults/services.py), migrates and seeds it, puts the
first agent online, then for each of `--chats` new customers: `start_chat`, one routing
pass (`Dispatcher.route`, called here rather than woken, so it is counted on its own),
`accept`, a 30-line transcript in bulk, and `end_chat` with its conversion. Every
statement the engine sends is counted by a `before_cursor_execute` listener; what runs
in the background after each call (the desk refresh an event wakes) is counted apart.
`--show` prints the statements of the last chat's calls.

Then the reconnect after a `kill -9` (issue #3, docs/reliability.md "Found 3"),
`--hellos` times each: a widget `hello` resuming its open chat (token and `last_seq`,
3 lines missed), the console's cookie check (before the upgrade), and a console `hello`
of an agent holding 3 and of one holding 20 active chats (2 lines missed in each). They
run on a stand-in socket (frames are queued, never sent): what is counted is the
server's work alone. Beside statements, `(sessions)` counts pool checkouts: each costs a
ping and a BEGIN … ROLLBACK/COMMIT on top of its statements. `--time N` then runs N of
each and prints this process's CPU and wall time per call (PostgreSQL's own CPU apart).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, insert, select

from tests.faults.services import own_postgres

LINES = 10  # in each chat a hello resumes
WIDGET_MISSED = 3
CONSOLE_MISSED = 2  # in each of the console's chats
HELD = (3, 20)  # active chats of the two consoles that reconnect


async def run(chats: int, show: bool, hellos: int = 0, timed: int = 0) -> dict[str, list[int]]:
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
        checkouts = [0]
        # Statements of the task being measured count for the call; any other task's (the
        # desk refresh an event wakes, or its 2 s timer) for "(background)".
        measured: list[asyncio.Task[Any] | None] = [None]
        elsewhere: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            mine = measured[0] is None or asyncio.current_task() is measured[0]
            (seen if mine else elsewhere).append(" ".join(statement.split())[:160])

        def checkout(*_args: Any) -> None:
            if asyncio.current_task() is measured[0]:
                checkouts[0] += 1

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
        event.listen(runtime.engine.sync_engine, "checkout", checkout)
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
                elsewhere.clear()
                measured[0] = asyncio.current_task()
                try:
                    result = await call
                finally:
                    measured[0] = None
                counts[name].append(len(seen))
                if show:
                    print(f"--- {name}: {len(seen)}")
                    print("\n".join(f"  {s}" for s in seen))
                seen.clear()
                await asyncio.sleep(0.3)
                counts[name + " (background)"].append(len(seen) + len(elsewhere))
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

            async def measure_sessions(name: str, call: Callable[[], Awaitable[Any]]) -> Any:
                checkouts[0] = 0
                result = await measure(name, call())
                counts[name + " (sessions)"].append(checkouts[0])
                return result

            if hellos or timed:
                await _hellos(runtime, agent_id, service_id, hellos, timed, measure_sessions)
        finally:
            await runtime.stop()
    return counts


class _StandInSocket:
    """What a `Client` reads of its websocket before its writer runs: the peer address."""

    client = SimpleNamespace(host="127.0.0.1", port=0)


Measure = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


async def _reconnect_data(runtime: Any, first_agent_id: int, service_id: int) -> dict[str, Any]:
    """Active chats of 10 lines written directly: 1 for the widget, 3 and 20 held by two
    agents for the consoles (no routing in the way, so every run counts the same)."""
    from chat.auth import start_session
    from chat.models import Chat, ChatMessage
    from chat.seed import create_agent
    from chat.states import ChatState
    from ticketing.db import transaction
    from ticketing.models import Customer

    now = runtime.clock.now()
    holders: dict[int, int] = {}
    async with transaction(runtime.sessions) as session:
        for held in HELD:
            agent = await create_agent(
                session,
                f"holder{held}@bench.test",
                f"Holder {held}",
                "bench-password",
                capacity=held,
                service_ids=[service_id],
            )
            holders[held] = agent.id
    chat_ids: dict[int, list[int]] = {}
    customer_ids: dict[int, list[int]] = {}
    for held, agent_id in [(1, first_agent_id), *holders.items()]:
        async with transaction(runtime.sessions) as session:
            customer_ids[held] = list(
                await session.scalars(
                    insert(Customer).returning(Customer.id),
                    [{"name": f"Reader {held}.{i}", "lang": "en"} for i in range(held)],
                )
            )
            chat_ids[held] = list(
                await session.scalars(
                    insert(Chat).returning(Chat.id),
                    [
                        {
                            "customer_id": customer_id,
                            "service_id": service_id,
                            "state": ChatState.ACTIVE,
                            "customer_name": f"Reader {held}.{i}",
                            "agent_id": agent_id,
                            "accepted_at": now,
                            "last_seq": LINES,
                        }
                        for i, customer_id in enumerate(customer_ids[held])
                    ],
                )
            )
            await session.execute(
                insert(ChatMessage),
                [
                    {
                        "chat_id": chat_id,
                        "seq": seq,
                        "sender": "customer" if seq % 2 else "agent",
                        "author_name": "Someone",
                        "body": f"line {seq}",
                        "created_at": now,
                    }
                    for chat_id in chat_ids[held]
                    for seq in range(1, LINES + 1)
                ],
            )
    cookies = {}
    for held, agent_id in holders.items():
        cookies[held], _ = await start_session(
            runtime.sessions, agent_id, runtime.settings, runtime.clock
        )
    return {"widget_customer": customer_ids[1][0], "chat_ids": chat_ids, "cookies": cookies}


async def _hellos(
    runtime: Any, first_agent_id: int, service_id: int, hellos: int, timed: int, measure: Measure
) -> None:
    from chat.auth import session_agent
    from chat.connection import Client
    from chat.ws_console import ConsoleSession
    from chat.ws_widget import WidgetSession

    data = await _reconnect_data(runtime, first_agent_id, service_id)
    site = runtime.settings.origin
    widget_frame = {
        "type": "hello",
        "token": runtime.tokens.issue(data["widget_customer"], site),
        "site": site,
        "last_seq": LINES - WIDGET_MISSED,
    }
    agents = {}
    for held, cookie in data["cookies"].items():
        logged_in = await session_agent(runtime.sessions, cookie, runtime.clock)
        assert logged_in is not None
        agents[held] = logged_in.agent
    opened: list[tuple[Client, Any]] = []

    def widget_hello() -> Awaitable[None]:
        client = Client(_StandInSocket(), "customer", 10_000)  # type: ignore[arg-type]
        opened.append((client, None))
        return WidgetSession(runtime, client, site).hello(widget_frame)

    def console_hello(held: int) -> Awaitable[None]:
        client = Client(_StandInSocket(), "agent", 10_000)  # type: ignore[arg-type]
        client.agent = agents[held]
        console = ConsoleSession(runtime, client, agents[held])
        opened.append((client, console))
        seen = {chat_id: LINES - CONSOLE_MISSED for chat_id in data["chat_ids"][held]}
        return console.hello({"type": "hello", "chats": seen})

    def cookie_check(held: int) -> Awaitable[Any]:
        return session_agent(runtime.sessions, data["cookies"][held], runtime.clock)

    async def close_all() -> list[int]:
        """What each socket's end does (leave the hub, close the console's row); returns
        how many frames each hello queued."""
        queued = []
        for client, console in opened:
            queued.append(client._queue.qsize())
            runtime.hub.remove(client)
            if console is not None and console.connection_id is not None:
                await runtime.dispatcher.close_connections([console.connection_id])
        opened.clear()
        return queued

    calls: dict[str, Callable[[], Awaitable[Any]]] = {"widget hello (resume)": widget_hello}
    for held in HELD:
        calls["console cookie check"] = lambda held=held: cookie_check(held)
        calls[f"console hello ({held} chats)"] = lambda held=held: console_hello(held)
    for call in calls.values():  # once unmeasured: a first connect adds a presence row
        await call()
        await close_all()
    for _ in range(hellos):
        for name, call in calls.items():
            await measure(name, call)
            await close_all()
    for name, call in calls.items():
        if not timed:
            break
        cpu = wall = 0.0
        for _ in range(timed):
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            await call()
            cpu += time.process_time() - cpu_start
            wall += time.perf_counter() - wall_start
            await close_all()
        print(f"{name:28} CPU {cpu / timed * 1000:.2f} ms, wall {wall / timed * 1000:.2f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--hellos", type=int, default=3, help="times each hello is counted")
    parser.add_argument("--time", type=int, default=0, help="hellos of each kind timed")
    args = parser.parse_args(argv)
    counts = asyncio.run(run(args.chats, args.show, args.hellos, args.time))
    for name, values in counts.items():
        print(f"{name:28} {values}")


if __name__ == "__main__":
    main()
