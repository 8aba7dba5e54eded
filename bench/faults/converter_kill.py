"""Scenario 5: chats ended by both sides at once while the converting process is killed.

Conversion is part of the transaction that ends the chat (`ChatService.end_chat`):
the `ended` state, the ticket, its thread and the survey commit together or not at
all, and `tickets.chat_id` is unique. So a `kill -9` in the middle leaves the chat
open (nothing to pick up later), the clients retry `end_chat` after reconnecting,
and exactly one of the racing ends wins. A chat nobody comes back to is still
swept: the customer-inactivity timer ends it, the agent-grace timer re-queues it
and `MAX_WAIT_SECONDS` then makes it a missed-chat ticket. Judged from the
database: exactly one ticket per chat, none half-converted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from sqlalchemy import bindparam, text

from bench.faults.clients import Agent, Customer
from bench.faults.cluster import cluster
from bench.faults.scenario import (
    Conversation,
    Load,
    Report,
    Stage,
    _settled,
    _until,
    judge,
    open_conversation,
    talk,
)
from ticketing.db import create_engine, create_sessionmaker

PROFILES = {
    # ~1 minute: 60 chats in 3 batches, 3 kills.
    "short": (Load(chats=60, agents=10, messages=3, interval=0.2), 20),
    # ~4 minutes: 1,000 chats in 10 batches of 100, 10 kills.
    "long": (Load(chats=1000, agents=25, messages=3, interval=0.2, arrival_rate=25), 100),
}


async def _end_both(conv: Conversation, seconds: float) -> None:
    """Both sides press "end" at once, and again after every reconnect until it ended."""
    c, a, chat_id = conv.customer, conv.agent, conv.chat_id
    assert a is not None and chat_id is not None
    deadline = time.perf_counter() + seconds
    while not c.ended.is_set():
        if time.perf_counter() > deadline:
            raise TimeoutError
        c.end_chat()
        if not a.ended_event(chat_id).is_set():
            a.end_chat(chat_id)
        await _until(c.ended.is_set, 2)


async def main(profile: str) -> Report:
    load, batch = PROFILES[profile]
    started = time.perf_counter()
    async with cluster(load.processes, load.agents, -(-batch // load.agents)) as c:
        agents = [Agent(c, i, i) for i in range(load.agents)]
        await asyncio.gather(*(a.log_in() for a in agents))
        for a in agents:
            a.start()
        await asyncio.gather(*(asyncio.wait_for(a.online.wait(), 30) for a in agents))
        by_agent = {a.agent_id: a for a in agents if a.agent_id is not None}
        await asyncio.sleep(1.0)
        convs = [Conversation(i, Customer(c, i, f"conv-{i}")) for i in range(load.chats)]
        stage = Stage(c, load, convs, agents)
        kill_after: list[float] = []
        for first in range(0, load.chats, batch):
            group = convs[first : first + batch]

            async def opening(conv: Conversation, offset: int) -> None:
                await asyncio.sleep(offset / load.arrival_rate)
                try:
                    await open_conversation(stage, conv, by_agent)
                except (TimeoutError, AssertionError, KeyError) as exc:
                    conv.failure = f"opening ({conv.step}): {type(exc).__name__}"

            await asyncio.gather(*(opening(v, k) for k, v in enumerate(group)))
            live = [v for v in group if v.failure is None]
            t0 = time.perf_counter()
            await asyncio.gather(
                *(talk(v, v.customer, "customer", load, t0) for v in live),
                *(talk(v, v.agent, "agent", load, t0) for v in live if v.agent is not None),
            )
            await _until(lambda live=live: all(_settled(v) for v in live), 30)

            async def killer() -> None:
                delay = random.uniform(0.0, 1.0)
                kill_after.append(delay)
                await asyncio.sleep(delay)
                while not all(c.alive(i) for i in range(len(c.ports))):
                    await asyncio.sleep(0.1)
                victim = random.randrange(len(c.ports))
                c.kill9(victim)
                stage.counts["kill -9"] += 1
                await c.restart(victim)

            async def ending(conv: Conversation) -> None:
                try:
                    await _end_both(conv, 90)
                except TimeoutError:
                    conv.failure = "end: TimeoutError"

            await asyncio.gather(killer(), *(ending(v) for v in live))
            for v in live:
                # The agent's console may not have heard the `ended` (its process died
                # after the commit): the database decides below.
                if v.agent is not None and v.chat_id is not None:
                    v.agent.ended_event(v.chat_id).set()
        for peer in stage.peers:
            await peer.stop()
        stage.notes.extend(await _tickets(c.database_url, [v.chat_id for v in convs if v.chat_id]))
        stage.notes.append(
            f"kills {len(kill_after)} at {min(kill_after, default=0):.2f}–"
            f"{max(kill_after, default=0):.2f} s after both sides pressed end"
        )
        seconds = time.perf_counter() - started
        return await judge(f"converter_kill/{profile}", load, stage, seconds)


async def _tickets(url: str, chat_ids: list[int]) -> list[str]:
    """Exactly one ticket per chat; no chat ended without one (nothing half-converted)."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            ids = bindparam("ids", expanding=True)
            tickets = (
                await session.execute(
                    text("SELECT chat_id FROM tickets WHERE chat_id IN :ids").bindparams(ids),
                    {"ids": chat_ids},
                )
            ).all()
            states = (
                await session.execute(
                    text(
                        "SELECT state, ticket_id IS NULL AS no_ticket FROM chats WHERE id IN :ids"
                    ).bindparams(ids),
                    {"ids": chat_ids},
                )
            ).all()
    finally:
        await engine.dispose()
    per_chat = Counter(row.chat_id for row in tickets)
    ended = sum(1 for row in states if row.state == "ended")
    half = sum(1 for row in states if row.state == "ended" and row.no_ticket)
    return [
        f"tickets {len(tickets)} for {len(chat_ids)} chats; chats with more than one "
        f"{sum(1 for n in per_chat.values() if n > 1)}; without one "
        f"{len(chat_ids) - len(per_chat)}; ended {ended}; ended without a ticket {half}"
    ]
