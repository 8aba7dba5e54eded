"""Tests for ticketing.status: every (from, to, actor, reason) against a spec written out here."""

from __future__ import annotations

import itertools

import pytest

from ticketing.errors import DeskError
from ticketing.models import TicketStatus
from ticketing.status import (
    CLOSE_REASONS,
    PANEL_VIEWS,
    TRANSITIONS,
    Actor,
    CloseReason,
    IllegalTransition,
    PanelView,
    allowed_close_reasons,
    allowed_targets,
    check_transition,
    in_view,
)

NEW, OPEN, PENDING, RESOLVED, CLOSED = (
    TicketStatus.NEW,
    TicketStatus.OPEN,
    TicketStatus.PENDING,
    TicketStatus.RESOLVED,
    TicketStatus.CLOSED,
)
AGENT, CUSTOMER, SYSTEM = Actor.AGENT, Actor.CUSTOMER, Actor.SYSTEM
SOLVED, INACTIVE, APPROVED, DUPLICATE, CANCELLED = (
    CloseReason.SOLVED,
    CloseReason.INACTIVE,
    CloseReason.APPROVED,
    CloseReason.DUPLICATE,
    CloseReason.CANCELLED,
)

# The spec, written independently of the module's tables: every legal move, with its reason.
LEGAL = {
    (NEW, OPEN, AGENT, None),  # an agent picks it up
    (NEW, OPEN, SYSTEM, None),  # routing assigns it
    (NEW, PENDING, AGENT, None),
    (NEW, RESOLVED, AGENT, None),
    (NEW, CLOSED, AGENT, DUPLICATE),
    (NEW, CLOSED, AGENT, CANCELLED),
    (OPEN, PENDING, AGENT, None),  # the agent asks the customer
    (OPEN, RESOLVED, AGENT, None),
    (OPEN, CLOSED, AGENT, DUPLICATE),
    (OPEN, CLOSED, AGENT, CANCELLED),
    (PENDING, OPEN, CUSTOMER, None),  # the customer replies
    (PENDING, OPEN, AGENT, None),
    (PENDING, RESOLVED, AGENT, None),
    (PENDING, CLOSED, AGENT, DUPLICATE),
    (PENDING, CLOSED, AGENT, CANCELLED),
    (PENDING, CLOSED, SYSTEM, INACTIVE),  # no answer after the reminders
    (RESOLVED, OPEN, CUSTOMER, None),  # reply or "Reopen"
    (RESOLVED, OPEN, AGENT, None),
    (RESOLVED, CLOSED, CUSTOMER, APPROVED),  # the customer confirms
    (RESOLVED, CLOSED, AGENT, APPROVED),  # "all is good" in a comment (Modera step 4)
    (RESOLVED, CLOSED, SYSTEM, SOLVED),  # N days without an answer
}
ALL_CASES = list(
    itertools.product(TicketStatus, TicketStatus, Actor, [None, *CloseReason])
)  # 5 x 5 x 3 x 6 = 450


def test_the_spec_has_every_case() -> None:
    assert len(ALL_CASES) == 450
    assert LEGAL <= set(ALL_CASES)


@pytest.mark.parametrize(
    ("current", "target", "actor", "reason"),
    ALL_CASES,
    ids=["-".join(str(part) for part in case) for case in ALL_CASES],
)
def test_every_transition(
    current: TicketStatus, target: TicketStatus, actor: Actor, reason: CloseReason | None
) -> None:
    if (current, target, actor, reason) in LEGAL:
        check_transition(current, target, actor, reason)  # does not raise
        return
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target, actor, reason)
    error = caught.value
    assert isinstance(error, DeskError)
    assert (error.code, error.http_status) == ("illegal_transition", 409)
    assert error.details["current"] == current.value
    assert error.details["target"] == target.value
    assert error.details["actor"] == actor.value
    assert str(error) == error.message
    assert str(current) in error.message and str(target) in error.message


def test_the_tables_say_the_same_as_the_spec() -> None:
    moves = {
        (c, t): frozenset(a for c2, t2, a, _ in LEGAL if (c2, t2) == (c, t)) for c, t, *_ in LEGAL
    }
    assert dict(TRANSITIONS) == moves
    reasons = {
        (c, a): frozenset(r for c2, t2, a2, r in LEGAL if (c2, t2, a2) == (c, CLOSED, a))
        for c, t, a, _ in LEGAL
        if t is CLOSED
    }
    assert dict(CLOSE_REASONS) == reasons


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[CLOSED, OPEN] = frozenset({AGENT})  # type: ignore[index]
    with pytest.raises(TypeError):
        CLOSE_REASONS[OPEN, CUSTOMER] = frozenset({CANCELLED})  # type: ignore[index]
    with pytest.raises(TypeError):
        PANEL_VIEWS[PanelView.ALL] = frozenset()  # type: ignore[index]


def test_every_closing_move_has_reasons_and_only_closing_moves_do() -> None:
    closing = {(c, a) for (c, t), actors in TRANSITIONS.items() if t is CLOSED for a in actors}
    assert set(CLOSE_REASONS) == closing
    assert all(CLOSE_REASONS.values())
    for (current, target), actors in TRANSITIONS.items():
        assert actors and current is not target, (current, target)


def test_closed_is_final_and_nothing_returns_to_new() -> None:
    for actor in Actor:
        assert allowed_targets(CLOSED, actor) == frozenset()
    assert not any(target is NEW for _, target in TRANSITIONS)


@pytest.mark.parametrize(("current", "actor"), list(itertools.product(TicketStatus, Actor)))
def test_allowed_targets_are_the_ui_buttons(current: TicketStatus, actor: Actor) -> None:
    expected = {t for c, t, a, _ in LEGAL if (c, a) == (current, actor)}
    assert allowed_targets(current, actor) == expected
    for target in TicketStatus:
        if target in expected and target is not CLOSED:
            check_transition(current, target, actor)


@pytest.mark.parametrize(("current", "actor"), list(itertools.product(TicketStatus, Actor)))
def test_allowed_close_reasons_are_the_ui_choices(current: TicketStatus, actor: Actor) -> None:
    expected = {r for c, t, a, r in LEGAL if (c, t, a) == (current, CLOSED, actor)}
    assert allowed_close_reasons(current, actor) == expected


def test_messages_say_who_from_and_to() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(OPEN, CLOSED, CUSTOMER, CANCELLED)
    assert caught.value.message == "A customer cannot move a ticket from open to closed."
    with pytest.raises(IllegalTransition, match=r"^The system cannot move a ticket from open to "):
        check_transition(OPEN, PENDING, SYSTEM)
    with pytest.raises(IllegalTransition, match="from open to open"):
        check_transition(OPEN, OPEN, AGENT)


def test_a_closed_ticket_tells_the_customer_to_open_a_new_one() -> None:
    with pytest.raises(IllegalTransition, match="closed ticket is final; open a new one") as caught:
        check_transition(CLOSED, OPEN, CUSTOMER)
    assert caught.value.message.startswith("A customer cannot move a ticket from closed to open")


def test_closing_needs_an_allowed_reason() -> None:
    with pytest.raises(IllegalTransition, match="without a reason") as caught:
        check_transition(PENDING, CLOSED, AGENT)
    assert caught.value.details["allowed"] == ["cancelled", "duplicate"]
    assert "cancelled or duplicate" in caught.value.message
    with pytest.raises(IllegalTransition) as caught:
        check_transition(PENDING, CLOSED, AGENT, INACTIVE)
    assert caught.value.message == (
        "An agent cannot move a ticket from pending to closed as inactive; "
        "the reason must be cancelled or duplicate."
    )
    with pytest.raises(IllegalTransition, match="as approved") as caught:
        check_transition(RESOLVED, CLOSED, SYSTEM, APPROVED)
    assert caught.value.details["reason"] == "approved"


def test_only_closing_takes_a_reason() -> None:
    with pytest.raises(IllegalTransition, match="Only closing takes a reason") as caught:
        check_transition(PENDING, OPEN, CUSTOMER, SOLVED)
    assert caught.value.details["reason"] == "solved"


def test_plain_strings_work_and_unknown_values_are_rejected() -> None:
    check_transition("resolved", "closed", "customer", "approved")  # type: ignore[arg-type]
    assert allowed_targets("pending", "customer") == {OPEN}  # type: ignore[arg-type]
    assert allowed_close_reasons("pending", "system") == {INACTIVE}  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        check_transition("open", "archived", "agent")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        check_transition("open", "pending", "robot")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        check_transition("open", "closed", "agent", "bored")  # type: ignore[arg-type]


def test_the_customer_reply_path_of_the_ticket_service_is_legal() -> None:
    # ticketing.tickets.add_customer_reply moves pending and resolved tickets back to open.
    for current in (PENDING, RESOLVED):
        check_transition(current, OPEN, CUSTOMER)


# --- the customer panel (Tecnospeed, seed 002) ---------------------------------------------------

VIEW_SPEC = {
    PanelView.AWAITING_MY_RESPONSE: {PENDING},
    PanelView.AWAITING_RETURN: {NEW, OPEN},
    PanelView.RESOLVED_AWAITING_APPROVAL: {RESOLVED},
    PanelView.NOT_YET_RATED: {CLOSED},
    PanelView.ALL: set(TicketStatus),
}


def test_panel_views_and_their_names() -> None:
    assert dict(PANEL_VIEWS) == VIEW_SPEC
    assert [v.value for v in PanelView] == [
        "awaiting_my_response",
        "awaiting_return",
        "resolved_awaiting_approval",
        "not_yet_rated",
        "all",
    ]


@pytest.mark.parametrize(
    ("view", "status", "answered"), list(itertools.product(PanelView, TicketStatus, [False, True]))
)
def test_in_view(view: PanelView, status: TicketStatus, answered: bool) -> None:
    expected = status in VIEW_SPEC[view] and not (view is PanelView.NOT_YET_RATED and answered)
    assert in_view(view, status, answered) is expected
    assert in_view(view.value, status.value, answered) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "answered"), list(itertools.product(TicketStatus, [False, True]))
)
def test_each_ticket_is_in_at_most_one_section_besides_all(
    status: TicketStatus, answered: bool
) -> None:
    sections = [v for v in PanelView if v is not PanelView.ALL and in_view(v, status, answered)]
    # Only a closed, rated ticket has left every working section; it is still under "all".
    assert len(sections) == (0 if (status is CLOSED and answered) else 1)
    assert in_view(PanelView.ALL, status, answered)


def test_unknown_view_is_rejected() -> None:
    with pytest.raises(ValueError):
        in_view("archived", OPEN, False)  # type: ignore[arg-type]
