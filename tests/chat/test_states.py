"""Unit tests for chat.states: the chat lifecycle table and the checks built on it."""

from __future__ import annotations

import itertools

import pytest

from chat.states import (
    ALLOWED_TRANSITIONS,
    OPEN_STATES,
    ChatState,
    EndedBy,
    IllegalChatTransition,
    SurveyState,
    check_transition,
    sources_of,
)

WAITING, OFFERED, ACTIVE, ENDED, MISSED = (
    ChatState.WAITING,
    ChatState.OFFERED,
    ChatState.ACTIVE,
    ChatState.ENDED,
    ChatState.MISSED,
)

# The lifecycle as DESIGN.md describes it, written out independently of the module.
EXPECTED_ALLOWED: set[tuple[ChatState, ChatState]] = {
    (WAITING, OFFERED),  # offered to an agent
    (WAITING, ENDED),  # the customer ends it while waiting
    (WAITING, MISSED),  # nobody took it in time
    (OFFERED, ACTIVE),  # accepted
    (OFFERED, WAITING),  # declined, offer timed out, or the agent's console is gone
    (OFFERED, ENDED),  # the customer ends it while offered
    (OFFERED, MISSED),  # nobody took it in time
    (ACTIVE, ENDED),  # ended by either side
    (ACTIVE, WAITING),  # transferred to a service, or the agent is gone
    (ACTIVE, OFFERED),  # transferred to another agent
}

ALL_PAIRS = list(itertools.product(ChatState, repeat=2))
ALLOWED_PAIRS = [pair for pair in ALL_PAIRS if pair in EXPECTED_ALLOWED]
ILLEGAL_PAIRS = [pair for pair in ALL_PAIRS if pair not in EXPECTED_ALLOWED]


def _id(pair: tuple[ChatState, ChatState]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_the_states_are_the_five_of_the_lifecycle() -> None:
    assert [s.value for s in ChatState] == ["waiting", "offered", "active", "ended", "missed"]


def test_the_table_has_a_row_for_every_state() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(ChatState)


def test_the_table_is_exactly_the_documented_lifecycle() -> None:
    table = {(s, t) for s, targets in ALLOWED_TRANSITIONS.items() for t in targets}
    assert table == EXPECTED_ALLOWED


@pytest.mark.parametrize(("current", "wanted"), ALLOWED_PAIRS, ids=map(_id, ALLOWED_PAIRS))
def test_an_allowed_change_passes(current: ChatState, wanted: ChatState) -> None:
    assert check_transition(current, wanted) is None


@pytest.mark.parametrize(("current", "wanted"), ILLEGAL_PAIRS, ids=map(_id, ILLEGAL_PAIRS))
def test_an_illegal_change_raises_naming_both_states(current: ChatState, wanted: ChatState) -> None:
    with pytest.raises(IllegalChatTransition) as info:
        check_transition(current, wanted)
    error = info.value
    assert error.current is current and error.wanted is wanted
    message = str(error)
    assert current.value in message and wanted.value in message
    assert message.index(current.value) < message.rindex(wanted.value)
    assert error.code == "chat_closed"


@pytest.mark.parametrize(("current", "wanted"), ALL_PAIRS, ids=map(_id, ALL_PAIRS))
def test_check_transition_agrees_with_the_table_for_every_pair(
    current: ChatState, wanted: ChatState
) -> None:
    try:
        check_transition(current, wanted)
    except IllegalChatTransition:
        allowed = False
    else:
        allowed = True
    assert allowed == (wanted in ALLOWED_TRANSITIONS[current])


@pytest.mark.parametrize("state", list(ChatState), ids=lambda s: s.value)
def test_no_state_becomes_itself(state: ChatState) -> None:
    with pytest.raises(IllegalChatTransition):
        check_transition(state, state)


@pytest.mark.parametrize("terminal", [ENDED, MISSED], ids=lambda s: s.value)
def test_ended_and_missed_are_terminal(terminal: ChatState) -> None:
    assert ALLOWED_TRANSITIONS[terminal] == frozenset()
    for wanted in ChatState:
        with pytest.raises(IllegalChatTransition):
            check_transition(terminal, wanted)


def test_a_missed_chat_is_never_reopened_or_ended_again() -> None:
    assert MISSED not in ALLOWED_TRANSITIONS[ENDED] and ENDED not in ALLOWED_TRANSITIONS[MISSED]


def test_only_waiting_and_offered_chats_can_be_missed() -> None:
    assert sources_of(MISSED) == frozenset({WAITING, OFFERED})


def test_a_chat_must_be_offered_before_it_becomes_active() -> None:
    assert sources_of(ACTIVE) == frozenset({OFFERED})


def test_open_states_are_exactly_the_non_terminal_ones() -> None:
    assert OPEN_STATES == frozenset(s for s in ChatState if ALLOWED_TRANSITIONS[s])
    assert OPEN_STATES == frozenset({WAITING, OFFERED, ACTIVE})


def test_every_open_state_can_still_end() -> None:
    for state in OPEN_STATES:
        assert ENDED in ALLOWED_TRANSITIONS[state] or MISSED in ALLOWED_TRANSITIONS[state]


@pytest.mark.parametrize("target", list(ChatState), ids=lambda s: s.value)
def test_sources_of_is_the_inverse_of_the_table(target: ChatState) -> None:
    expected = frozenset(s for s, t in EXPECTED_ALLOWED if t == target)
    assert sources_of(target) == expected
    for source in ChatState:
        assert (source in sources_of(target)) == (target in ALLOWED_TRANSITIONS[source])
    assert isinstance(sources_of(target), frozenset)


def test_sources_of_each_state() -> None:
    assert sources_of(WAITING) == frozenset({OFFERED, ACTIVE})
    assert sources_of(OFFERED) == frozenset({WAITING, ACTIVE})
    assert sources_of(ACTIVE) == frozenset({OFFERED})
    assert sources_of(ENDED) == frozenset({WAITING, OFFERED, ACTIVE})
    assert sources_of(MISSED) == frozenset({WAITING, OFFERED})


def test_states_compare_equal_to_their_stored_text() -> None:
    # StrEnum: what the database returns as text works with the table directly.
    check_transition(ChatState("waiting"), ChatState("offered"))
    assert ChatState.WAITING == "waiting"
    assert {s.value for s in sources_of(ENDED)} == {"waiting", "offered", "active"}


def test_the_other_enums_hold_their_documented_values() -> None:
    assert {e.value for e in EndedBy} == {"agent", "customer", "inactivity", "system"}
    assert [s.value for s in SurveyState] == ["none", "pending", "answered"]
