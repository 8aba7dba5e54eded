"""Who gets which waiting chat: the routing strategy, pure and without I/O.

DESIGN.md "Routing": first come, first served per service; a chat goes to an
agent who serves its service, is online and reachable, and is below their own
capacity; among those, the fewest open chats, ties to the one idle longest.
The service layer feeds this a consistent snapshot inside one locked transaction,
so two processes can never both act on the same plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Agents who never took a chat sort before everybody else when breaking ties.
_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class WaitingChat:
    chat_id: int
    service_id: int
    queued_at: dt.datetime
    declined_by: frozenset[int] = frozenset()


@dataclass
class AvailableAgent:
    agent_id: int
    services: frozenset[int]
    capacity: int
    open_chats: int  # active chats plus offers awaiting an answer
    last_assigned_at: dt.datetime | None = None
    planned: int = field(default=0, compare=False)

    @property
    def free_slots(self) -> int:
        return self.capacity - self.open_chats - self.planned


@dataclass(frozen=True)
class Offer:
    chat_id: int
    agent_id: int


def choose_agent(chat: WaitingChat, agents: Iterable[AvailableAgent]) -> AvailableAgent | None:
    """The best agent for one chat, or None when nobody eligible has a free slot."""
    eligible = [
        a
        for a in agents
        if chat.service_id in a.services and a.free_slots > 0 and a.agent_id not in chat.declined_by
    ]
    if not eligible:
        return None
    return min(
        eligible,
        key=lambda a: (a.open_chats + a.planned, a.last_assigned_at or _NEVER, a.agent_id),
    )


def plan_offers(
    waiting: Sequence[WaitingChat], agents: Sequence[AvailableAgent], now: dt.datetime
) -> list[Offer]:
    """Offers to make now, oldest chat first; never beyond any agent's capacity."""
    offers: list[Offer] = []
    for chat in sorted(waiting, key=lambda c: (c.queued_at, c.chat_id)):
        agent = choose_agent(chat, agents)
        if agent is None:
            continue
        agent.planned += 1
        # Within one plan, the agent just chosen counts as the most recently busy.
        agent.last_assigned_at = now
        offers.append(Offer(chat.chat_id, agent.agent_id))
    return offers


def queue_positions(waiting: Sequence[WaitingChat]) -> dict[int, int]:
    """1-based place in line of every waiting chat, per service."""
    positions: dict[int, int] = {}
    counters: dict[int, int] = {}
    for chat in sorted(waiting, key=lambda c: (c.queued_at, c.chat_id)):
        counters[chat.service_id] = counters.get(chat.service_id, 0) + 1
        positions[chat.chat_id] = counters[chat.service_id]
    return positions


def estimated_wait_seconds(position: int, agents_online: int, average_wait: float) -> int:
    """A plain estimate: the recent average wait, scaled by place in line per agent."""
    if position <= 0:
        return 0
    per_agent = position / max(1, agents_online)
    return max(0, round(average_wait * per_agent))
