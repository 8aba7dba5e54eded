"""The conversation every message-carrying fault scenario runs, and how it is judged.

Customers arrive, agent consoles accept, both sides talk on a fixed clock (open
loop) while a *chaos* coroutine breaks something; then every side waits until what
it sent is acknowledged and what the other side sent is on its screen, and the agent
ends the chat. Judged twice: from the clients' view (what each screen showed, by
`seq`) and from the database (`bench.verify`: every acknowledged message stored
exactly once, transcripts numbered without gaps, one ticket per ended chat).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.faults.clients import Agent, Customer, Peer
from bench.faults.cluster import Cluster, cluster
from bench.loadgen import ChatRun
from bench.metrics import percentile
from bench.verify import verify

# A loaded 2-core box may take a while to welcome, route and accept 200 arrivals.
OPEN_STEP_SECONDS = 120.0


@dataclass(frozen=True)
class Load:
    """How much conversation runs while the fault happens."""

    chats: int
    agents: int
    messages: int  # per side
    interval: float = 1.0  # seconds between one side's messages
    arrival_rate: float = 20.0
    processes: int = 2
    settle_seconds: float = 90.0  # after the last send: everything acked and shown by then
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def capacity(self) -> int:
        return math.ceil(self.chats / self.agents)

    @property
    def talk_seconds(self) -> float:
        return self.messages * self.interval


@dataclass(eq=False)
class Conversation:
    index: int
    customer: Customer
    agent: Agent | None = None
    chat_id: int | None = None
    first_agent_id: int | None = None
    failure: str | None = None
    step: str = ""


@dataclass
class Stage:
    """What the chaos coroutine gets: the deployment and every client."""

    cluster: Cluster
    load: Load
    conversations: list[Conversation]
    agents: list[Agent]
    notes: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def peers(self) -> list[Peer]:
        return [c.customer for c in self.conversations] + list(self.agents)


Chaos = Callable[[Stage], Awaitable[None]]


@dataclass
class Report:
    """The figures of one scenario run (docs/reliability.md)."""

    name: str
    load: Load
    seconds: float
    chats_done: int
    sent: int
    acked: int
    unacked: int
    lost: int
    shown_twice: int
    order_violations: int
    holes: int
    redelivered_dropped: int
    gaps_fetched: int
    resumes: list[float]
    resumes_by_role: dict[str, list[float]]
    welcomes: list[float]
    agent_changed: int
    errors: Counter[str]
    verification: str
    verification_ok: bool
    failures: Counter[str]
    notes: list[str]
    counts: Counter[str]

    @property
    def ok(self) -> bool:
        return (
            self.verification_ok
            and self.lost == 0
            and self.shown_twice == 0
            and self.order_violations == 0
            and self.holes == 0
            and self.unacked == 0
            and not self.failures
        )

    def resume(self, p: float) -> float:
        return percentile(sorted(self.resumes), p)

    def _by(self, role: str, p: float) -> float:
        return percentile(sorted(self.resumes_by_role.get(role, [])), p)

    def lines(self) -> list[str]:
        r = self.resumes
        return [
            f"scenario {self.name}: {'OK' if self.ok else 'FAILED'} in {self.seconds:.0f} s",
            f"  load: {self.load.chats} chats, {self.load.agents} agents, {self.load.messages} "
            f"msgs each way every {self.load.interval:g} s, {self.load.processes} process(es)",
            f"  chats completed {self.chats_done}/{self.load.chats}; "
            f"failures {dict(self.failures)}",
            f"  messages sent {self.sent}, acknowledged {self.acked}, never acknowledged "
            f"{self.unacked}",
            f"  lost (acknowledged, never shown to the other side) {self.lost}; shown twice "
            f"{self.shown_twice}; order violations {self.order_violations}; holes {self.holes}",
            f"  redelivered and dropped by seq {self.redelivered_dropped}; gaps fetched "
            f"{self.gaps_fetched}; agent changed {self.agent_changed}",
            f"  resumes {len(r)}: p50 {self.resume(50):.2f} s, p99 {self.resume(99):.2f} s, "
            f"max {max(r) if r else float('nan'):.2f} s",
            f"  resume by side: customers p50 {self._by('customer', 50):.2f} s p99 "
            f"{self._by('customer', 99):.2f} s; agent consoles p50 {self._by('agent', 50):.2f} s "
            f"p99 {self._by('agent', 99):.2f} s",
            f"  welcome after reconnect: p50 {percentile(sorted(self.welcomes), 50):.2f} s, "
            f"p99 {percentile(sorted(self.welcomes), 99):.2f} s",
            f"  errors seen by clients {dict(self.errors)}; events {dict(self.counts)}",
            f"  database: {self.verification}",
            *(f"  note: {n}" for n in self.notes),
        ]


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip()
    except OSError:
        return "?"


def stamp() -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{now}, git {git_revision()}, load average {load_average()}"


async def _until(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


def body(side: str, index: int, k: int) -> str:
    return f"{side} {index} #{k}: the quick brown fox jumps over the lazy dog"


async def open_conversation(stage: Stage, conv: Conversation, by_agent: dict[int, Agent]) -> None:
    """Arrive, start the chat, get it accepted; both sides ready to talk."""
    customer = conv.customer
    customer.start()
    conv.step = "welcome"
    await asyncio.wait_for(customer.online.wait(), OPEN_STEP_SECONDS)
    customer.start_chat(stage.cluster.service_id, body("customer", conv.index, -1))
    conv.step = "assigned"
    await asyncio.wait_for(customer.assigned.wait(), OPEN_STEP_SECONDS)
    assert customer.chat_id is not None and customer.agent_id is not None
    conv.chat_id = customer.chat_id
    conv.first_agent_id = customer.agent_id
    conv.agent = by_agent[customer.agent_id]
    conv.step = "active on the console"
    await asyncio.wait_for(conv.agent.active_event(conv.chat_id).wait(), OPEN_STEP_SECONDS)


async def talk(conv: Conversation, peer: Peer, side: str, load: Load, start: float) -> None:
    assert conv.chat_id is not None
    for k in range(load.messages):
        delay = start + k * load.interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        peer.say(conv.chat_id, uuid.uuid4().hex, body(side, conv.index, k))


def _settled(conv: Conversation) -> bool:
    c, a, chat_id = conv.customer, conv.agent, conv.chat_id
    if a is None or chat_id is None:
        return True
    return (
        not c.pending.get(chat_id)
        and not a.pending.get(chat_id)
        and set(a.sent_order.get(chat_id, [])) <= set(c.view(chat_id).shown_ids("agent"))
        and set(c.sent_order.get(chat_id, [])) <= set(a.view(chat_id).shown_ids("customer"))
    )


async def end_conversation(conv: Conversation, seconds: float = 60) -> None:
    """The agent ends the chat; retried across reconnects until both sides saw it end."""
    a, c, chat_id = conv.agent, conv.customer, conv.chat_id
    assert a is not None and chat_id is not None
    deadline = time.perf_counter() + seconds
    ended = a.ended_event(chat_id)
    while not (ended.is_set() and c.ended.is_set()):
        if time.perf_counter() > deadline:
            raise TimeoutError
        if a.online.is_set() and not ended.is_set():
            a.end_chat(chat_id)
        with_timeout = asyncio.wait_for(asyncio.shield(ended.wait()), 3)
        try:
            await with_timeout
        except TimeoutError:
            pass
        if ended.is_set():
            await _until(c.ended.is_set, 3)


async def run_scenario(
    name: str,
    load: Load,
    chaos: Chaos,
    *,
    redis: bool = True,
    on_stage: Callable[[Stage], None] | None = None,
) -> Report:
    """Start a private deployment, run the conversation under `chaos`, judge it."""
    settings = {"AGENT_GRACE_SECONDS": "90", **dict(load.settings)}
    async with cluster(
        load.processes, load.agents, load.capacity, redis=redis, settings=settings
    ) as c:
        return await _run(name, load, chaos, c, on_stage)


async def _run(
    name: str,
    load: Load,
    chaos: Chaos,
    c: Cluster,
    on_stage: Callable[[Stage], None] | None,
) -> Report:
    started = time.perf_counter()
    agents = [Agent(c, i, i) for i in range(load.agents)]
    await asyncio.gather(*(a.log_in() for a in agents))
    for a in agents:
        a.start()
    await asyncio.gather(*(asyncio.wait_for(a.online.wait(), 30) for a in agents))
    by_agent = {a.agent_id: a for a in agents if a.agent_id is not None}
    await asyncio.sleep(1.0)  # the desk view sees them online
    tag = uuid.uuid4().hex[:6]
    convs = [Conversation(i, Customer(c, i, f"faults-{tag}-{i}")) for i in range(load.chats)]
    stage = Stage(c, load, convs, agents)
    if on_stage is not None:
        on_stage(stage)

    async def opening(conv: Conversation) -> None:
        await asyncio.sleep(conv.index / load.arrival_rate)
        try:
            await open_conversation(stage, conv, by_agent)
        except (TimeoutError, AssertionError, KeyError) as exc:
            conv.failure = f"opening ({conv.step}): {type(exc).__name__}"

    await asyncio.gather(*(opening(conv) for conv in convs))
    live = [conv for conv in convs if conv.failure is None]
    for conv in live:
        assert conv.agent is not None and conv.chat_id is not None
        conv.customer.expected = load.messages
        conv.agent.expected[conv.chat_id] = load.messages
    t0 = time.perf_counter() + 0.5
    chaos_task = asyncio.create_task(chaos(stage))
    talkers = []
    for conv in live:
        assert conv.agent is not None
        talkers.append(talk(conv, conv.customer, "customer", load, t0))
        talkers.append(talk(conv, conv.agent, "agent", load, t0 + load.interval / 2))
    await asyncio.gather(*talkers)
    try:
        await chaos_task
    except Exception as exc:  # a broken chaos is a failed run, said out loud
        stage.notes.append(f"chaos failed: {exc!r}")
    if not await _until(lambda: all(_settled(v) for v in live), load.settle_seconds):
        for conv in live:
            if not _settled(conv):
                conv.failure = "not settled: unacknowledged or undelivered messages"

    async def ending(conv: Conversation) -> None:
        if conv.failure is not None:
            return
        try:
            await end_conversation(conv)
        except TimeoutError:
            conv.failure = "end: TimeoutError"

    await asyncio.gather(*(ending(conv) for conv in live))
    for peer in stage.peers:
        await peer.stop()
    seconds = time.perf_counter() - started
    return await judge(name, load, stage, seconds)


async def judge(name: str, load: Load, stage: Stage, seconds: float) -> Report:
    """Figures from the clients' screens, then the database's word."""
    convs = stage.conversations
    sent = acked = unacked = lost = twice = order = holes = redelivered = gaps = 0
    errors: Counter[str] = Counter()
    for peer in stage.peers:
        errors.update(peer.errors)
    for conv in convs:
        if conv.agent is None or conv.chat_id is None:
            continue
        chat_id = conv.chat_id
        sides = (("customer", conv.customer, conv.agent), ("agent", conv.agent, conv.customer))
        for side, sender, receiver in sides:
            ids = sender.sent_order.get(chat_id, [])
            sent += len(ids)
            view = receiver.view(chat_id)
            shown = view.shown_ids(side)
            shown_set = set(shown)
            for cid in ids:
                if cid in sender.acked:
                    acked += 1
                    if cid not in shown_set:
                        lost += 1
                else:
                    unacked += 1
            twice += sum(1 for cid in shown if len(view.seqs_of.get(cid, [])) > 1)
            if shown != [cid for cid in ids if cid in shown_set]:
                order += 1
                expected = [cid for cid in ids if cid in shown_set]
                pairs = enumerate(zip(shown, expected, strict=False))
                at = next(i for i, (x, y) in pairs if x != y)
                stage.notes.append(
                    f"order: chat {chat_id} {side}'s messages shown as #{ids.index(shown[at])} "
                    f"where #{ids.index(expected[at])} was sent first"
                )
        for peer in (conv.customer, conv.agent):
            view = peer.view(chat_id)
            holes += len(view.buffer)
            redelivered += view.redelivered
            gaps += view.gaps
    runs = []
    for conv in convs:
        run = ChatRun(conv.index, conv.customer.name, 0.0, 5)
        run.server_id = conv.chat_id
        if conv.agent is not None and conv.chat_id is not None:
            run.sent = {
                "customer": list(conv.customer.sent_order.get(conv.chat_id, [])),
                "agent": list(conv.agent.sent_order.get(conv.chat_id, [])),
            }
            if conv.agent.ended_event(conv.chat_id).is_set():
                run.agent_ended.set()
        runs.append(run)
    all_acked = {cid for p in stage.peers for cid in p.acked}
    verification = await verify(stage.cluster.database_url, runs, all_acked)
    changed = await _agents_changed(stage)
    resumes = [s for p in stage.peers for s in p.resume_seconds]
    return Report(
        name=name,
        load=load,
        seconds=seconds,
        chats_done=sum(1 for c in convs if c.failure is None),
        sent=sent,
        acked=acked,
        unacked=unacked,
        lost=lost,
        shown_twice=twice,
        order_violations=order,
        holes=holes,
        redelivered_dropped=redelivered,
        gaps_fetched=gaps,
        resumes=resumes,
        resumes_by_role={
            role: [s for p in stage.peers if p.role == role for s in p.resume_seconds]
            for role in ("customer", "agent")
        },
        welcomes=[s for p in stage.peers for s in p.welcome_seconds],
        agent_changed=changed,
        errors=errors,
        verification=verification.summary(),
        verification_ok=verification.ok,
        failures=Counter(c.failure for c in convs if c.failure),
        notes=stage.notes,
        counts=stage.counts,
    )


async def _agents_changed(stage: Stage) -> int:
    """Chats that did not finish with the agent who first took them."""
    from sqlalchemy import bindparam, text

    from ticketing.db import create_engine, create_sessionmaker

    first = {c.chat_id: c.first_agent_id for c in stage.conversations if c.chat_id is not None}
    if not first:
        return 0
    engine = create_engine(stage.cluster.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            query = text("SELECT id, agent_id FROM chats WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)
            )
            rows: Any = (await session.execute(query, {"ids": list(first)})).all()
    finally:
        await engine.dispose()
    return sum(1 for row in rows if row.agent_id != first.get(row.id))
