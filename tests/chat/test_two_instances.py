"""Two app instances joined by Redis and PostgreSQL behave as one desk."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import and_, func, or_, select

from chat.models import Chat
from chat.states import ChatState
from tests.conftest import Backend
from tests.support import AgentConsole, Customer, LiveDesk, start_two_desks
from ticketing.models import Agent, Ticket


async def test_a_customer_on_one_instance_chats_with_an_agent_on_the_other(
    shared_backend: Backend, bus_prefix: str
) -> None:
    site = "https://shop.example"  # the customer's page, which embeds the widget
    async with start_two_desks(
        shared_backend.database_url, shared_backend.redis_url, bus_prefix, allowed_origins=(site,)
    ) as (one, two):
        bea = await two.agent("Bea")
        ana = Customer(one, site=site)
        await ana.connect()
        chat = await bea.take(ana)
        assert (await ana.expect("assigned"))["agent"]["name"] == "Bea"
        await ana.say("hello from instance one")
        await bea.expect("message", lambda f: f["body"] == "hello from instance one")
        await bea.say(chat["id"], "hello from instance two")
        await ana.message("hello from instance two")
        await ana.send({"type": "typing", "is_typing": True})
        assert (await bea.expect("typing"))["sender"] == "customer"

        # The customer's connection moves to the other instance and resumes there.
        ana.drop()
        await bea.say(chat["id"], "did you get this?")
        moved = Customer(two, ana.token, site=site)
        moved.last_seq = ana.last_seq
        await moved.connect()
        await moved.message("did you get this?")

        await bea.end(chat["id"])
        ended = await moved.expect("ended")
        await moved.expect("survey")
        async with one.runtime.sessions() as session:
            ticket = await session.get(Ticket, ended["ticket_id"])
        assert ticket is not None and ticket.chat_id == chat["id"]


async def _over_capacity(desk: LiveDesk) -> list[tuple[int, int, int]]:
    """(agent, open chats, capacity) for every agent holding more than they may."""
    async with desk.runtime.sessions() as session:
        load = (
            select(func.count(Chat.id))
            .where(
                or_(
                    and_(Chat.state == ChatState.ACTIVE, Chat.agent_id == Agent.id),
                    and_(Chat.state == ChatState.OFFERED, Chat.offered_agent_id == Agent.id),
                )
            )
            .scalar_subquery()
        )
        rows = await session.execute(select(Agent.id, load, Agent.capacity))
        return [(a, n, c) for a, n, c in rows.all() if n > c]


async def test_many_customers_and_agents_on_two_instances_never_overbook(
    shared_backend: Backend, bus_prefix: str
) -> None:
    """Real concurrency: 30 customers and 6 agents spread over two instances."""
    # All 30 customers come from 127.0.0.1: over the new-chats-per-IP limit, which both
    # instances share through Redis (that limit has its own tests).
    many = {"rate_new_chats_per_ip_per_hour": 1000}
    async with start_two_desks(
        shared_backend.database_url, shared_backend.redis_url, bus_prefix, **many
    ) as (one, two):
        desks = [one, two]
        agents: list[AgentConsole] = [
            await desks[i % 2].agent(f"Agent{i}", capacity=2) for i in range(6)
        ]
        accepted: dict[int, int] = {}
        over: list[object] = []
        done = asyncio.Event()

        async def agent_bot(console: AgentConsole) -> None:
            while not done.is_set():
                try:
                    offer = await console.expect("offer", timeout=0.5)
                except TimeoutError:
                    continue
                chat_id = offer["chat"]["id"]
                await console.send({"type": "accept", "chat_id": chat_id})
                await console.expect(
                    "chat",
                    lambda f, c=chat_id: f["chat"]["id"] == c and f["chat"]["state"] == "active",
                )
                assert chat_id not in accepted, "a chat was accepted twice"
                accepted[chat_id] = console.agent.id
                await console.say(chat_id, "how can I help?")
                await asyncio.sleep(random.uniform(0.05, 0.3))
                await console.end(chat_id)

        async def watch() -> None:
            while not done.is_set():
                over.extend(await _over_capacity(one))
                await asyncio.sleep(0.05)

        async def customer(n: int) -> None:
            await asyncio.sleep(random.uniform(0, 1.0))
            person = await desks[n % 2].customer()
            await person.start_chat(name=f"Customer {n}", message=f"question {n}")
            await person.expect("assigned", timeout=30)
            await person.message("how can I help?")
            await person.expect("ended", timeout=30)

        bots = [asyncio.create_task(agent_bot(a)) for a in agents]
        watcher = asyncio.create_task(watch())
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*(customer(n) for n in range(30)))
        finally:
            done.set()
            await asyncio.gather(*bots, watcher, return_exceptions=True)
        for bot in bots:
            if bot.done() and bot.exception():
                raise bot.exception()  # type: ignore[misc]

        assert over == []
        assert len(accepted) == 30
        async with one.runtime.sessions() as session:
            tickets = await session.scalar(select(func.count(Ticket.id)))
            open_chats = await session.scalar(
                select(func.count(Chat.id)).where(Chat.state != ChatState.ENDED)
            )
        assert tickets == 30 and open_chats == 0
