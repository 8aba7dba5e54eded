"""The chat lifecycle as an explicit table (DESIGN.md, "Chat lifecycle").

`waiting` → `offered` → `active` → `ended`; a chat nobody takes becomes `missed`.
The table is the single source of truth: the service layer checks every change
against it, and the conditional UPDATEs that make changes atomic are built from it.
"""

from __future__ import annotations

import enum


class ChatState(enum.StrEnum):
    WAITING = "waiting"  # in the service's queue
    OFFERED = "offered"  # offered to one agent, who may accept or decline
    ACTIVE = "active"  # an agent is talking with the customer
    ENDED = "ended"  # finished and converted to a ticket
    MISSED = "missed"  # nobody took it in time; converted to a ticket from the message


class EndedBy(enum.StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    INACTIVITY = "inactivity"
    SYSTEM = "system"


class SurveyState(enum.StrEnum):
    NONE = "none"
    PENDING = "pending"
    ANSWERED = "answered"


ALLOWED_TRANSITIONS: dict[ChatState, frozenset[ChatState]] = {
    ChatState.WAITING: frozenset({ChatState.OFFERED, ChatState.ENDED, ChatState.MISSED}),
    # Back to waiting on decline, timeout, or the agent's console gone past its grace.
    ChatState.OFFERED: frozenset(
        {ChatState.ACTIVE, ChatState.WAITING, ChatState.ENDED, ChatState.MISSED}
    ),
    # Back to waiting when transferred to a service or when the agent is gone;
    # to offered when transferred to another agent.
    ChatState.ACTIVE: frozenset({ChatState.ENDED, ChatState.WAITING, ChatState.OFFERED}),
    ChatState.ENDED: frozenset(),
    ChatState.MISSED: frozenset(),
}

OPEN_STATES: frozenset[ChatState] = frozenset(
    {ChatState.WAITING, ChatState.OFFERED, ChatState.ACTIVE}
)


class IllegalChatTransition(Exception):
    code = "chat_closed"

    def __init__(self, current: ChatState, wanted: ChatState) -> None:
        super().__init__(f"a chat that is {current.value} cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


def sources_of(target: ChatState) -> frozenset[ChatState]:
    """Every state from which `target` may be reached; used in conditional UPDATEs."""
    return frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if target in targets)


def check_transition(current: ChatState, wanted: ChatState) -> None:
    if wanted not in ALLOWED_TRANSITIONS[current]:
        raise IllegalChatTransition(current, wanted)
