"""First-run data: the Movidesk guide's services and a first admin with a random password."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.auth import hash_password
from ticketing.business_hours import Schedule, weekdays_schedule
from ticketing.db import transaction
from ticketing.models import Agent, AgentRole, Service

# From the Movidesk customer guide (seeds/000): the services a customer can pick.
# Support chat is staffed around the clock so a fresh `make run` can be tried at any
# hour; the others keep office hours. Admins change both.
DEFAULT_SERVICES: list[tuple[str, str]] = [
    ("Support", "Questions about using the product, faults and errors."),
    ("Customer success", "Onboarding, training and getting the most out of your plan."),
    ("Billing", "Invoices, payments and changes to your subscription."),
    ("Suggestions", "Ideas to improve the product and our service."),
    ("Others", "Anything that fits nowhere else."),
]


def default_schedule(name: str, timezone: str) -> Schedule:
    if name == "Support":
        return weekdays_schedule(timezone, ["00:00-24:00"], days=range(7))
    return weekdays_schedule(timezone, ["09:00-18:00"])


async def seed_services(session: AsyncSession, timezone: str = "UTC") -> int:
    """Create the default services on an empty desk; returns how many were created."""
    if await session.scalar(select(func.count(Service.id))):
        return 0
    for position, (name, description) in enumerate(DEFAULT_SERVICES):
        session.add(
            Service(
                name=name,
                description=description,
                position=position,
                schedule=default_schedule(name, timezone).to_dict(),
            )
        )
    await session.flush()
    return len(DEFAULT_SERVICES)


async def create_agent(
    session: AsyncSession,
    email: str,
    name: str,
    password: str,
    *,
    role: AgentRole = AgentRole.AGENT,
    capacity: int = 3,
    service_ids: list[int] | None = None,
) -> Agent:
    """A new agent serving the given services (all services when none are named)."""
    query = select(Service)
    if service_ids is not None:
        query = query.where(Service.id.in_(service_ids))
    services = list(await session.scalars(query))
    agent = Agent(
        email=email.strip().lower(),
        name=name,
        password_hash=await hash_password(password),
        role=role,
        capacity=capacity,
        services=services,
    )
    session.add(agent)
    await session.flush()
    return agent


async def bootstrap(
    sessions: async_sessionmaker[AsyncSession], timezone: str = "UTC"
) -> tuple[str, str] | None:
    """Seed an empty desk. Returns the first admin's (email, password) when one was made."""
    async with transaction(sessions) as session:
        await seed_services(session, timezone)
        if await session.scalar(select(func.count(Agent.id))):
            return None
        password = secrets.token_urlsafe(12)
        email = "admin@chatdesk.local"
        await create_agent(session, email, "Admin", password, role=AgentRole.ADMIN)
        return email, password
