"""What a routing pass reads, and that it does not grow with the desk's history
(chat/desk.py).

Every pass counts each agent's open chats. An agent with a year of ended chats must not
make that count read the year: the count goes through the partial indexes of active
chats and of offers (`ix_chats_active_agent`, `ix_chats_offered_agent`, migrations 0008
and 0009), on both databases, and so do the sweep's read of chats left waiting too
long (`ix_chats_unanswered`) and the desk's average wait (`ix_chats_accepted_at`, 0010),
with the statistics a desk has once analyzed: on SQLite they say that an index on a
column most chats hold NULL or 'ended' in finds the whole table, and without these
indexes each read scanned it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.desk import RECENTLY_ACCEPTED, available_agents, open_chats_of_agent
from chat.dispatcher import UNANSWERED_SINCE
from chat.models import AgentConnection, AgentPresence, Chat
from chat.seed import create_agent
from chat.states import ChatState
from ticketing.db import transaction
from ticketing.models import Agent, Customer, Service

ENDED = 3000  # the veteran's history
ACTIVE = 3  # the veteran's open chats
COLLEAGUES, EACH = 30, 8  # a busy desk around them: 240 more active chats


async def _agent_with_history(session: AsyncSession) -> int:
    service_id = await session.scalar(select(Service.id).order_by(Service.id))
    assert service_id is not None
    agent = await create_agent(
        session, "veteran@desk.test", "Veteran", "a-long-password", service_ids=[service_id]
    )
    colleagues = list(
        await session.scalars(
            insert(Agent).returning(Agent.id),
            [
                {"email": f"c{n}@desk.test", "name": f"C{n}", "password_hash": "-", "capacity": 10}
                for n in range(COLLEAGUES)
            ],
        )
    )
    customer_id = await session.scalar(
        insert(Customer).returning(Customer.id), {"name": "Regular", "lang": "en"}
    )
    now = dt.datetime(2026, 11, 24, 9, tzinfo=dt.UTC)

    def chat(agent_id: int, state: ChatState) -> dict[str, Any]:
        return {
            "customer_id": customer_id,
            "service_id": service_id,
            "state": state,
            "customer_name": "Regular",
            "agent_id": agent_id,
            "created_at": now,
            "declined_agent_ids": [],
        }

    rows = [chat(agent.id, ChatState.ENDED) for _ in range(ENDED)]
    rows += [chat(agent.id, ChatState.ACTIVE) for _ in range(ACTIVE)]
    rows += [chat(c, ChatState.ACTIVE) for c in colleagues for _ in range(EACH)]
    await session.execute(insert(Chat), rows)
    return agent.id


async def test_an_agents_open_chats_are_counted_from_the_active_ones_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        agent_id = await _agent_with_history(session)
    count = select(open_chats_of_agent()).where(Agent.id == agent_id)
    async with sessions() as session:
        assert await session.scalar(count) == ACTIVE
        await session.execute(text("ANALYZE"))  # the planner knows most chats are ended
        plan = await _plan_as_run(session, count, agent_id)
    assert "ix_chats_active_agent" in plan, plan
    # The offers through a partial index (PostgreSQL may take the unanswered chats' one),
    # not `offered_agent_id`'s own, which holds every chat ever made.
    assert "ix_chats_offered_agent" in plan or "ix_chats_unanswered" in plan, plan
    assert not _reads_the_whole_table(plan), plan


async def test_the_sweep_finds_chats_left_waiting_without_reading_the_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        await _agent_with_history(session)
    since = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    async with sessions() as session:
        assert list(await session.scalars(UNANSWERED_SINCE, {"since": since})) == []
        await session.execute(text("ANALYZE"))
        plan = await _plan_as_run(session, UNANSWERED_SINCE, since)
    assert "ix_chats_unanswered" in plan, plan
    assert not _reads_the_whole_table(plan), plan


async def test_the_desks_average_wait_reads_the_last_hour_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Every 10 s the desk averages the last hour's waits: along `accepted_at`'s index
    (migration 0010), never through the history."""
    async with transaction(sessions) as session:
        await _agent_with_history(session)
    since = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)
    async with sessions() as session:
        await session.execute(text("ANALYZE"))
        plan = await _plan_as_run(session, RECENTLY_ACCEPTED, since)
    assert "ix_chats_accepted_at" in plan, plan
    assert not _reads_the_whole_table(plan), plan


def _reads_the_whole_table(plan: str) -> bool:
    return "SCAN chats" in plan or "Seq Scan on chats" in plan


async def _plan_as_run(session: AsyncSession, statement: Any, value: Any) -> str:
    """The plan of `statement` as the application runs it: compiled by its driver, its
    values parameters. On PostgreSQL, the generic plan: asyncpg prepares every
    statement, and from its sixth run PostgreSQL may plan it once for any parameter
    value. A state sent as a parameter (`state = $1`) then cannot use the index of
    active chats, and every routing pass read each agent's whole history. `value` is
    the statement's one open parameter (an agent's id, a time); the others (a LIMIT)
    keep the values the statement gives them."""
    compiled = statement.compile(session.bind)
    given = {name: value if bound is None else bound for name, bound in compiled.params.items()}
    values = [given[name] for name in compiled.positiontup or ()]
    connection = await session.connection()
    if session.bind.dialect.name != "postgresql":
        parameters = tuple(v if isinstance(v, int) else v.isoformat() for v in values)
        rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters)
        return "\n".join(str(row) for row in rows)
    literals = ", ".join(
        f"{v:d}" if isinstance(v, int) else f"'{v.isoformat()}'::timestamptz" for v in values
    )
    await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    await connection.exec_driver_sql(f"PREPARE planned AS {compiled}")
    rows = await connection.exec_driver_sql(f"EXPLAIN EXECUTE planned({literals})")
    return "\n".join(str(row) for row in rows)


async def test_available_agents_come_with_the_services_they_serve(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """One statement gives each free agent and their services (the routing pass's read)."""
    now = dt.datetime.now(dt.UTC)
    async with transaction(sessions) as session:
        service_ids = list(await session.scalars(select(Service.id).order_by(Service.id)))
        two = await create_agent(
            session, "two@desk.test", "Two", "a-long-password", service_ids=service_ids[:2]
        )
        none = await create_agent(session, "none@desk.test", "None", "a-long-password")
        none.services = []
        for n, agent in enumerate((two, none)):
            session.add(AgentPresence(agent_id=agent.id, status="online"))
            session.add(
                AgentConnection(id=f"c{n}", agent_id=agent.id, process_id="p", last_seen_at=now)
            )
    async with sessions() as session:
        served = {a.agent_id: a.services for a in await available_agents(session, now)}
    assert served == {two.id: frozenset(service_ids[:2]), none.id: frozenset()}
