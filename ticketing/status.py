"""The ticket status machine (DESIGN.md, "Ticket lifecycle"): who may move a ticket where, and why.

One table, :data:`TRANSITIONS`, says which actor may make each move; :data:`CLOSE_REASONS` says
which reasons each actor may give when closing from each status. The API, the worker and the UI
all ask :func:`check_transition` / :func:`allowed_targets`, never their own copy of the rules.
Pure: no I/O.

Choices, and the seed each one comes from:

* ``closed`` is final; nothing leaves it. Tecnospeed (seed 002) reopens a ticket only while it
  is "resolvido aguardando minha aprovação"; once "Concluído" it only waits to be rated. Modera
  (seed 003, step 4) reopens during validation and says "if you need some other things done
  please open a new ticket". So a closed ticket is never reopened: the customer opens a new one.
* ``pending`` → ``closed`` by the system is the inactivity close (Tecnospeed: closed
  automatically after 3 days without an answer; Modera: after two reminders, "closed as
  Inactive"). How long to wait is the worker's setting, not this table's.
* ``resolved`` → ``closed``: the customer confirms (*approved*); an agent closes after the
  customer said "all is good" in a comment (Modera step 4, also *approved*); the system closes
  it as *solved* after N days without an answer (DESIGN.md). A customer's reply or "Reopen"
  sends it back to ``open`` (Tecnospeed 3, Modera step 4).
* Agents close unworked or abandoned tickets as *duplicate* or *cancelled* from ``new``,
  ``open`` and ``pending``. Customers never close directly; they approve a resolution.
* Nothing returns to ``new`` (it means "nobody has looked yet"), and staying put is no move.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from ticketing.errors import DeskError
from ticketing.models import TicketStatus

__all__ = [
    "CLOSE_REASONS",
    "PANEL_VIEWS",
    "TRANSITIONS",
    "Actor",
    "CloseReason",
    "IllegalTransition",
    "PanelView",
    "allowed_close_reasons",
    "allowed_targets",
    "check_transition",
    "in_view",
]


class CloseReason(StrEnum):
    SOLVED = "solved"  # resolved and not answered within the approval window
    INACTIVE = "inactive"  # pending on the customer, who never came back
    APPROVED = "approved"  # the customer confirmed the resolution
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"


class Actor(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"
    SYSTEM = "system"  # the worker's timers, routing and conversion


_NEW, _OPEN, _PENDING, _RESOLVED, _CLOSED = (
    TicketStatus.NEW,
    TicketStatus.OPEN,
    TicketStatus.PENDING,
    TicketStatus.RESOLVED,
    TicketStatus.CLOSED,
)
_AGENT, _CUSTOMER, _SYSTEM = Actor.AGENT, Actor.CUSTOMER, Actor.SYSTEM

TRANSITIONS: Mapping[tuple[TicketStatus, TicketStatus], frozenset[Actor]] = MappingProxyType(
    {
        (_NEW, _OPEN): frozenset({_AGENT, _SYSTEM}),  # an agent picks it up; routing assigns it
        (_NEW, _PENDING): frozenset({_AGENT}),  # the first answer is a question
        (_NEW, _RESOLVED): frozenset({_AGENT}),  # answered and solved at once
        (_NEW, _CLOSED): frozenset({_AGENT}),  # duplicate / cancelled before anyone worked it
        (_OPEN, _PENDING): frozenset({_AGENT}),  # the agent asks the customer
        (_OPEN, _RESOLVED): frozenset({_AGENT}),
        (_OPEN, _CLOSED): frozenset({_AGENT}),
        (_PENDING, _OPEN): frozenset({_CUSTOMER, _AGENT}),  # the customer replies
        (_PENDING, _RESOLVED): frozenset({_AGENT}),
        (_PENDING, _CLOSED): frozenset({_AGENT, _SYSTEM}),  # system: inactive
        (_RESOLVED, _OPEN): frozenset({_CUSTOMER, _AGENT}),  # reply or "Reopen"
        (_RESOLVED, _CLOSED): frozenset({_CUSTOMER, _AGENT, _SYSTEM}),
    }
)

_BY_AGENT = frozenset({CloseReason.DUPLICATE, CloseReason.CANCELLED})
CLOSE_REASONS: Mapping[tuple[TicketStatus, Actor], frozenset[CloseReason]] = MappingProxyType(
    {
        (_NEW, _AGENT): _BY_AGENT,
        (_OPEN, _AGENT): _BY_AGENT,
        (_PENDING, _AGENT): _BY_AGENT,
        (_PENDING, _SYSTEM): frozenset({CloseReason.INACTIVE}),
        (_RESOLVED, _CUSTOMER): frozenset({CloseReason.APPROVED}),
        (_RESOLVED, _AGENT): frozenset({CloseReason.APPROVED}),  # "all is good" in a comment
        (_RESOLVED, _SYSTEM): frozenset({CloseReason.SOLVED}),
    }
)

_WHO = {_AGENT: "An agent", _CUSTOMER: "A customer", _SYSTEM: "The system"}


class IllegalTransition(DeskError):
    code = "illegal_transition"
    message = "This ticket cannot make that status change."
    http_status = 409


def _reasons_text(reasons: frozenset[CloseReason]) -> str:
    return " or ".join(sorted(reasons))


def check_transition(
    current: TicketStatus,
    target: TicketStatus,
    actor: Actor,
    reason: CloseReason | None = None,
) -> None:
    """Raise :class:`IllegalTransition` unless ``actor`` may move ``current`` → ``target``.

    Closing needs one of the reasons :data:`CLOSE_REASONS` allows; any other move takes none.
    Plain strings are accepted; an unknown status, actor or reason raises ``ValueError``.
    """
    current, target, actor = TicketStatus(current), TicketStatus(target), Actor(actor)
    reason = None if reason is None else CloseReason(reason)
    details = {"current": current.value, "target": target.value, "actor": actor.value}
    if actor not in TRANSITIONS.get((current, target), frozenset()):
        why = ": a closed ticket is final; open a new one" if current is _CLOSED else ""
        raise IllegalTransition(
            f"{_WHO[actor]} cannot move a ticket from {current} to {target}{why}.", **details
        )
    if target is not _CLOSED:
        if reason is not None:
            raise IllegalTransition(
                f"Only closing takes a reason; moving a ticket from {current} to {target} "
                f"cannot be '{reason}'.",
                reason=reason.value,
                **details,
            )
        return
    allowed = CLOSE_REASONS[current, actor]
    if reason not in allowed:
        said = "without a reason" if reason is None else f"as {reason}"
        raise IllegalTransition(
            f"{_WHO[actor]} cannot move a ticket from {current} to closed {said}; "
            f"the reason must be {_reasons_text(allowed)}.",
            reason=None if reason is None else reason.value,
            allowed=sorted(allowed),
            **details,
        )


def allowed_targets(current: TicketStatus, actor: Actor) -> frozenset[TicketStatus]:
    """The statuses ``actor`` may move a ``current`` ticket to: the UI's buttons."""
    current, actor = TicketStatus(current), Actor(actor)
    return frozenset(t for (c, t), who in TRANSITIONS.items() if c is current and actor in who)


def allowed_close_reasons(current: TicketStatus, actor: Actor) -> frozenset[CloseReason]:
    """The reasons ``actor`` may give when closing a ``current`` ticket (empty: may not close)."""
    return CLOSE_REASONS.get((TicketStatus(current), Actor(actor)), frozenset())


class PanelView(StrEnum):
    """The customer panel's sections, as Tecnospeed's "Painel do Cliente" lists them (seed 002)."""

    AWAITING_MY_RESPONSE = "awaiting_my_response"  # 1: "aguardando minha resposta"
    AWAITING_RETURN = "awaiting_return"  # 2: "aguardando retorno"
    RESOLVED_AWAITING_APPROVAL = "resolved_awaiting_approval"  # 3: "resolvidos ... aprovação"
    NOT_YET_RATED = "not_yet_rated"  # 4: "não avaliados"
    ALL = "all"  # 5: "todos os chamados"


# The statuses each view shows. `not_yet_rated` also needs "no survey answer", which is not a
# status: filter on both (see `in_view`).
PANEL_VIEWS: Mapping[PanelView, frozenset[TicketStatus]] = MappingProxyType(
    {
        PanelView.AWAITING_MY_RESPONSE: frozenset({_PENDING}),
        PanelView.AWAITING_RETURN: frozenset({_NEW, _OPEN}),
        PanelView.RESOLVED_AWAITING_APPROVAL: frozenset({_RESOLVED}),
        PanelView.NOT_YET_RATED: frozenset({_CLOSED}),
        PanelView.ALL: frozenset(TicketStatus),
    }
)


def in_view(view: PanelView, status: TicketStatus, has_answered_survey: bool) -> bool:
    """Whether a ticket with ``status`` belongs in the panel's ``view``."""
    view = PanelView(view)
    if TicketStatus(status) not in PANEL_VIEWS[view]:
        return False
    return not (view is PanelView.NOT_YET_RATED and has_answered_survey)
