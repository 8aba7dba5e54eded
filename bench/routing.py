"""Routing under a rush: customers arriving at a fixed rate, agents taking and ending chats.

`python -m bench.routing [--rate 100] [--seconds 30] [--agents 50] [--capacity 10]
[--processes 1] [--history 20000] [--sqlite] [--py-spy RAW]`

Issue #3's target: 100 customers a second for a minute with 50 agents → p99
arrival-to-offer < 100 ms and no agent ever over capacity. One `python -m chat serve`
(or `--processes N`, joined by a private Redis) on its own PostgreSQL (free port;
routing takes the advisory lock as in production), or with `--sqlite` on a SQLite
file of its own (one process, the single-process deployment).
Each customer connects, says `hello`, then `start_chat` — *arrival* is the moment
`start_chat` is sent, *offer* the moment the agent's console reads the `offer`
(one `perf_counter`, one process). Agent bots accept at once and end each chat
`--hold` seconds later, so capacity frees up and routing keeps working. Every 250 ms
the database is asked how many chats each agent holds (active + offered) against
their capacity. Arrivals are open-loop: a slow server shows up as latency. The database
starts as a running desk's does: `--history` ended chats (by default 20,000, about a
week of 50 agents' chats), its statistics analyzed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import event_loop
from bench.faults.clients import Agent, Customer
from bench.faults.cluster import Cluster, cluster
from bench.faults.scenario import stamp
from bench.metrics import cpu_seconds, percentile, postgres_cpu_seconds, self_cpu_seconds
from bench.run import _start_py_spy, summarise_profile

SAMPLE_SECONDS = 0.25
WINDOW_SECONDS = 10.0


def _p99_by_window(
    arrived: dict[str, float], offers: dict[str, float], t0: float, seconds: float
) -> str:
    """p99 of each stretch of arrivals: whether the tail grows as the run goes on."""
    buckets: list[list[float]] = [[] for _ in range(max(1, int(seconds // WINDOW_SECONDS)))]
    for name, at in arrived.items():
        if name in offers:
            index = min(int((at - t0) // WINDOW_SECONDS), len(buckets) - 1)
            buckets[max(index, 0)].append((offers[name] - at) * 1000)
    return " ".join(f"{percentile(sorted(b), 99):.0f}" for b in buckets)


class RushAgent(Agent):
    """Accepts every offer (the base class does), notes when it came, ends after `hold`."""

    def __init__(
        self, c: Cluster, home: int, index: int, offers: dict[str, float], hold: float
    ) -> None:
        super().__init__(c, home, index)
        self.offers = offers
        self.hold = hold
        self.tasks: set[asyncio.Task[None]] = set()

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "offer":
            self.offers.setdefault(frame["chat"]["customer"]["name"], time.perf_counter())
        super()._frame(frame)
        if kind == "chat" and frame["chat"].get("state") == "active":
            task = asyncio.create_task(self._end_later(int(frame["chat"]["id"])))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _end_later(self, chat_id: int) -> None:
        await asyncio.sleep(self.hold)
        self.end_chat(chat_id)


async def _capacity_sampler(url: str, stop: asyncio.Event, worst: list[int]) -> None:
    """Highest (held − capacity) over all agents and samples; > 0 is a violation."""
    from ticketing.db import create_engine, create_sessionmaker

    engine = create_engine(url)
    # Per agent, as the server counts (chat/desk.py): a join on the OR would read every
    # chat of the run for every agent, four times a second, on the box's shared cores.
    query = text(
        "SELECT a.id, a.capacity, (SELECT COUNT(*) FROM chats c WHERE "
        "(c.state = 'active' AND c.agent_id = a.id) OR "
        "(c.state = 'offered' AND c.offered_agent_id = a.id)) AS held FROM agents a"
    )
    try:
        async with create_sessionmaker(engine)() as session:
            while not stop.is_set():
                rows = (await session.execute(query)).all()
                await session.commit()
                worst.append(max((r.held - r.capacity for r in rows), default=0))
                await asyncio.sleep(SAMPLE_SECONDS)
    finally:
        await engine.dispose()


# A desk that has been running: ended chats over every agent, and statistics that know
# it. On an empty database PostgreSQL plans each prepared statement for an empty table
# (a sequential scan) and keeps that plan until autovacuum first analyzes the table, a
# minute or more later, which no running desk sees (docs/performance.md).
_COLUMNS = (
    "INSERT INTO chats (customer_id, service_id, state, subject, customer_name, agent_id, "
    "declined_agent_ids, queued_at, created_at, accepted_at, ended_at, "
    "last_customer_activity_at, last_seq, survey, customer_delivered_seq, customer_read_seq, "
    "agent_delivered_seq, agent_read_seq) "
)
_HISTORY_POSTGRES = text(
    _COLUMNS + "SELECT :customer, :service, 'ended', 'Earlier', 'Earlier customer', "
    "agents[1 + g % cardinality(agents)], '[]', t, t, t, t, t, 1, 'none', 0, 0, 0, 0 "
    "FROM generate_series(1, :count) AS g, "
    "LATERAL (SELECT now() - g * interval '30 seconds' AS t) AS at, "
    "(SELECT array_agg(id ORDER BY id) AS agents FROM agents) AS a"
)
# The same on SQLite, times written as SQLAlchemy writes them there (six-digit fraction),
# each chat with a customer of its own, as on a real desk: SQLite's statistics keep only
# an average per index, so one customer with 20,000 chats would make every lookup by
# customer look like a read of the whole table (PostgreSQL keeps that customer apart as
# a most common value). They are the customers after `:customer`.
_RECURSIVE = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :count) "
_CUSTOMERS_SQLITE = text(
    _RECURSIVE + "INSERT INTO customers (name, lang, created_at) "
    "SELECT 'Earlier customer ' || n, 'en', :now FROM g"
)
_HISTORY_SQLITE = text(
    _RECURSIVE + ", a AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k, "
    "count(*) OVER () AS total FROM agents) "
    + _COLUMNS
    + "SELECT :customer + n, :service, 'ended', 'Earlier', 'Earlier customer', a.id, '[]', "
    "t, t, t, t, t, 1, 'none', 0, 0, 0, 0 FROM "
    "(SELECT n, strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || (n * 30) || ' seconds') "
    "|| '.000000' AS t FROM g) AS at JOIN a ON a.k = at.n % a.total"
)


async def _with_history(url: str, service_id: int, count: int) -> None:
    """`count` ended chats spread over the agents, then ANALYZE."""
    from ticketing.db import create_engine, utcnow

    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    history = _HISTORY_SQLITE if sqlite else _HISTORY_POSTGRES
    try:
        async with engine.begin() as connection:
            customer = await connection.scalar(
                text(
                    "INSERT INTO customers (name, lang, created_at) "
                    "VALUES ('Earlier customer', 'en', :now) RETURNING id"
                ),
                {"now": utcnow()},
            )
            if count and sqlite:
                await connection.execute(_CUSTOMERS_SQLITE, {"count": count, "now": utcnow()})
            if count:
                await connection.execute(
                    history, {"customer": customer, "service": service_id, "count": count}
                )
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def run(
    rate: float,
    seconds: float,
    agents: int,
    capacity: int,
    hold: float,
    py_spy: Path | None = None,
    processes: int = 1,
    history: int = 20_000,
    sqlite: bool = False,
) -> str:
    """With `processes` > 1 they are joined by a private Redis, and agents and customers
    are spread over them in turn (py-spy, if asked, watches the first)."""
    async with cluster(processes, agents + 1, capacity, redis=processes > 1, sqlite=sqlite) as c:
        await _with_history(c.database_url, c.service_id, history)
        procs = [p for p in c.procs if p is not None]
        proc = procs[0]
        offers: dict[str, float] = {}
        bots = [  # login 0: spare
            RushAgent(c, i % processes, i + 1, offers, hold) for i in range(agents)
        ]
        await asyncio.gather(*(b.log_in() for b in bots))
        for b in bots:
            b.start()
        await asyncio.gather(*(asyncio.wait_for(b.online.wait(), 60) for b in bots))
        await asyncio.sleep(1.5)
        stop = asyncio.Event()
        worst: list[int] = []
        sampler = asyncio.create_task(_capacity_sampler(c.database_url, stop, worst))
        arrived: dict[str, float] = {}
        n = int(rate * seconds)
        failures = 0

        async def customer(i: int, t0: float) -> None:
            nonlocal failures
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            cust = Customer(c, i % processes, f"rush-{i}")
            cust.start()
            try:
                await asyncio.wait_for(cust.online.wait(), 60)
                arrived[cust.name] = time.perf_counter()
                cust.start_chat(c.service_id, "Hello, a quick question")
                await asyncio.wait_for(cust.ended.wait(), 120)
            except TimeoutError:
                failures += 1
            finally:
                await cust.stop()

        cpu0, w0 = sum(cpu_seconds(p.pid) for p in procs), time.perf_counter()
        gen0, pg0 = self_cpu_seconds(), postgres_cpu_seconds()
        spy = None if py_spy is None else await _start_py_spy(proc.pid, seconds, py_spy)
        t0 = time.perf_counter() + 0.2
        with event_loop.collector_paused() as held:
            await asyncio.gather(*(customer(i, t0) for i in range(n)))
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        wall = time.perf_counter() - w0
        gen, pg = self_cpu_seconds() - gen0, postgres_cpu_seconds() - pg0
        stop.set()
        await sampler
        for b in bots:
            await b.stop()
        profile = ""
        if spy is not None and py_spy is not None:
            await asyncio.to_thread(spy.wait)
            profile = "\n\n" + summarise_profile(py_spy)
        waits = sorted((offers[name] - t) * 1000 for name, t in arrived.items() if name in offers)
        windows = _p99_by_window(arrived, offers, t0, seconds)
        return (
            f"routing bench: {stamp()}, {'SQLite' if sqlite else 'PostgreSQL'}\n"
            f"{n} customers at {rate:g}/s for {seconds:g} s over {processes} process(es), "
            f"{agents} agents × capacity "
            f"{capacity}, chats ended {hold:g} s after accept, {history:,} ended chats before\n"
            f"offered {len(waits)}/{n} (failures {failures}); arrival→offer p50 "
            f"{percentile(waits, 50):.0f} ms, p99 {percentile(waits, 99):.0f} ms, max "
            f"{max(waits, default=float('nan')):.0f} ms\n"
            f"p99 by {WINDOW_SECONDS:g} s of arrivals (ms): {windows}\n"
            f"capacity samples {len(worst)}: worst (held − capacity) {max(worst, default=0)} "
            f"(> 0 would be an agent over capacity)\n"
            f"server CPU (all processes) {100 * cpu / wall:.0f} % of a core over {wall:.0f} s "
            f"({1000 * cpu / max(n, 1):.1f} ms per chat lifecycle); the generator "
            f"{100 * gen / wall:.0f} %"
            + ("" if sqlite else f", PostgreSQL {100 * pg / wall:.0f} %")
            + " of a core (2 cores in all)\n"
            f"the generator's collector paused for the arrivals: {held.mb:.0f} MiB more held"
        ) + profile


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=10)
    parser.add_argument("--hold", type=float, default=1.0)
    parser.add_argument(
        "--py-spy", type=Path, metavar="RAW", help="profile the server for the arrivals (py-spy)"
    )
    parser.add_argument("--processes", type=int, default=1, help="serve processes (Redis)")
    parser.add_argument(
        "--history", type=int, default=20_000, help="ended chats in the database beforehand"
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    args = parser.parse_args(argv)
    print(
        event_loop.run(
            run(
                args.rate,
                args.seconds,
                args.agents,
                args.capacity,
                args.hold,
                args.py_spy,
                args.processes,
                args.history,
                args.sqlite,
            )
        )
    )


if __name__ == "__main__":
    main()
