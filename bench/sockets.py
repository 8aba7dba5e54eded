"""Many idle sockets in one process: memory per socket and idle CPU (issue #3).

`python -m bench.sockets [--chats 5000] [--visitors 4750] [--agents 250] [--idle 30]`

Target: 10,000 concurrent sockets (5,000 open chats) in one `python -m chat serve`,
≤ 40 KB of RSS per idle socket and < 15 % of a core while idle. The sockets are what
a busy desk holds: `--chats` customers each in an open chat (the chats are inserted
in bulk on our own PostgreSQL; each customer resumes its chat with a signed token,
so `hello` replays its transcript), `--visitors` widgets on pages with no chat yet
(`hello` without a token), and `--agents` consoles holding the chats. Clients offer
permessage-deflate (browsers do) and keep alive as the real widget does: an
application `ping` every 25 s (jittered), no websocket-level pings of their own.
RSS per socket = (server VmRSS with every socket open − before the first) ÷ sockets.
Idle CPU = the server's utime+stime over `--idle` seconds with nothing happening.
`ulimit -n` is raised to the hard limit in the generator and the server.

The seeded chats are held by agents whose consoles are not open yet, which the server
reads as consoles gone for good: its first sweep would re-queue every chat, and the
consoles would spend the run taking offers (and the "idle" period routing). So the
bench seeds what a restart leaves, each holder's console closed a moment ago, with a
grace (`AGENT_GRACE_SECONDS`) long enough for all consoles to come back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import time
import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.conversions import _seed
from bench.faults.clients import Agent
from bench.faults.cluster import cluster
from bench.faults.scenario import stamp
from bench.loadgen import PING_SECONDS, keep_alive
from bench.metrics import cpu_seconds, rss_kb

CONNECT_AT_ONCE = 64
CONSOLES_AT_ONCE = 10
GRACE_SECONDS = 3600  # longer than any run: no chat is re-queued while consoles return


class IdleSockets:
    """Open sockets that only read and ping, and how many are open right now."""

    def __init__(self, compression: str | None = "deflate") -> None:
        self.compression = compression
        self.open = 0
        self.failed = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.sockets: list[ClientConnection] = []

    async def widget(self, url: str, origin: str, token: str | None) -> None:
        try:
            ws = await connect(
                url + "/ws/widget",
                origin=origin,  # type: ignore[arg-type]
                ping_interval=None,
                open_timeout=60,
                compression=self.compression,  # type: ignore[arg-type]
            )
            await ws.send(json.dumps({"type": "hello", "token": token}))
            async with asyncio.timeout(60):
                while json.loads(await ws.recv()).get("type") != "welcome":
                    pass
        except (OSError, WebSocketException, TimeoutError):
            self.failed += 1
            return
        self.open += 1
        self.sockets.append(ws)
        task = asyncio.create_task(self._idle(ws))
        self.tasks.add(task)

    async def _idle(self, ws: ClientConnection) -> None:
        ping = asyncio.create_task(keep_alive(ws))
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass
        finally:
            ping.cancel()
            self.open -= 1

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def _consoles_just_closed(
    sessions: async_sessionmaker[AsyncSession], agent_ids: list[int]
) -> None:
    """One console per agent, closed now: as after a restart, inside the grace period."""
    from chat.models import AgentConnection
    from ticketing.db import transaction

    now = dt.datetime.now(dt.UTC)
    async with transaction(sessions) as session:
        await session.execute(
            insert(AgentConnection),
            [
                {
                    "id": str(uuid.uuid4()),
                    "agent_id": agent_id,
                    "process_id": "bench-before-restart",
                    "opened_at": now,
                    "last_seen_at": now,
                    "closed_at": now,
                }
                for agent_id in agent_ids
            ],
        )


async def run(
    chats: int,
    visitors: int,
    agents: int,
    idle: float,
    connect_deadline: float = 600.0,
    compression: str | None = "deflate",
) -> str:
    from chat.auth import CustomerTokens
    from chat.models import Chat
    from ticketing.db import create_engine, create_sessionmaker

    settings = {"AGENT_GRACE_SECONDS": str(GRACE_SECONDS)}
    capacity = -(-chats // max(agents, 1)) + 1
    async with cluster(1, agents, capacity, redis=False, settings=settings) as c:
        proc = c.procs[0]
        assert proc is not None
        engine = create_engine(c.database_url)
        try:
            sessions = create_sessionmaker(engine)
            from ticketing.models import Agent as AgentRow

            async with sessions() as session:
                agent_ids = list(
                    await session.scalars(
                        select(AgentRow.id)
                        .where(AgentRow.email.like("bench-%"))
                        .order_by(AgentRow.id)
                    )
                )
            chat_ids = await _seed(sessions, chats, 3, agent_ids)
            await _consoles_just_closed(sessions, agent_ids)
            async with sessions() as session:
                customers = list(
                    await session.scalars(select(Chat.customer_id).where(Chat.id.in_(chat_ids)))
                )
        finally:
            await engine.dispose()
        tokens = CustomerTokens(c.env["SECRET_KEY"])
        await asyncio.sleep(2.0)
        rss0, t_start = rss_kb(proc.pid), time.perf_counter()
        consoles = [Agent(c, 0, i) for i in range(agents)]
        await asyncio.gather(*(a.log_in() for a in consoles))
        for first in range(0, agents, CONSOLES_AT_ONCE):  # each hello: 20 snapshots + replays
            batch = consoles[first : first + CONSOLES_AT_ONCE]
            for a in batch:
                a.start()
            await asyncio.wait([asyncio.ensure_future(a.online.wait()) for a in batch], timeout=120)
        idle_sockets = IdleSockets(compression)
        limit = asyncio.Semaphore(CONNECT_AT_ONCE)
        url = c.ws_url(0)

        async def one(token: str | None) -> None:
            async with limit:
                await idle_sockets.widget(url, c.origin, token)

        plan = [tokens.issue(cid, c.origin) for cid in customers] + [None] * visitors
        openers = [asyncio.create_task(one(t)) for t in plan]
        _, late = await asyncio.wait(openers, timeout=connect_deadline)
        for task in late:  # bounded: report the largest number reached, and why
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        connected = time.perf_counter() - t_start
        await asyncio.sleep(5.0)  # let the arrivals' desk refreshes settle
        sockets = idle_sockets.open + sum(1 for a in consoles if a.online.is_set())
        rss1 = rss_kb(proc.pid)
        cpu0, w0 = cpu_seconds(proc.pid), time.perf_counter()
        await asyncio.sleep(idle)
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - w0
        rss2 = rss_kb(proc.pid)
        still = idle_sockets.open + sum(1 for a in consoles if a.online.is_set())
        for a in consoles:
            with contextlib.suppress(Exception):
                await a.stop()
        await idle_sockets.close()
        per_socket = (rss1 - rss0) / max(sockets, 1)
        return (
            f"sockets bench: {stamp()}\n"
            f"{chats} customers in open chats + {visitors} idle visitors + {agents} consoles "
            f"holding the chats; widget compression {compression or 'off'}; "
            f"connected in {connected:.0f} s; failed {idle_sockets.failed}; "
            f"not attempted before the {connect_deadline:g} s deadline {len(late)}\n"
            f"sockets open {sockets} (after {idle:g} s idle: {still}); server RSS "
            f"{rss0 // 1024} MiB before → {rss1 // 1024} MiB with them open "
            f"({rss2 // 1024} MiB after the idle period): {per_socket:.1f} KiB per socket\n"
            f"idle CPU {100 * cpu / wall:.1f} % of a core over {wall:.0f} s "
            f"(application pings every {PING_SECONDS:g} s per socket; no websocket-level "
            f"pings: the server closes a socket silent for WS_IDLE_SECONDS)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sockets", description=__doc__)
    parser.add_argument("--chats", type=int, default=5000)
    parser.add_argument("--visitors", type=int, default=4750)
    parser.add_argument("--agents", type=int, default=250)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--connect-deadline", type=float, default=600.0)
    parser.add_argument("--compression", choices=("deflate", "off"), default="deflate")
    args = parser.parse_args(argv)
    compression = None if args.compression == "off" else "deflate"
    print(
        asyncio.run(
            run(
                args.chats,
                args.visitors,
                args.agents,
                args.idle,
                args.connect_deadline,
                compression,
            )
        )
    )


if __name__ == "__main__":
    main()
