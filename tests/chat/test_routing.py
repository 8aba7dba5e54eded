"""Unit tests for chat.routing: who is offered which waiting chat.

First come, first served per service; only agents who serve the service, have a free
slot and have not declined the chat; the fewest open chats wins, ties to the agent
idle longest.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.routing import (
    AvailableAgent,
    Offer,
    WaitingChat,
    choose_agent,
    estimated_wait_seconds,
    plan_offers,
    queue_positions,
)

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(hours=1)

HYPOTHESIS = settings(max_examples=200, deadline=None, database=None)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def chat(
    chat_id: int, service_id: int = 1, queued: float = 0.0, declined: set[int] | None = None
) -> WaitingChat:
    return WaitingChat(chat_id, service_id, at(queued), frozenset(declined or ()))


def agent(
    agent_id: int,
    services: set[int] | None = None,
    capacity: int = 3,
    open_chats: int = 0,
    last: dt.datetime | None = None,
) -> AvailableAgent:
    return AvailableAgent(agent_id, frozenset(services or {1}), capacity, open_chats, last)


def offered_to(offers: list[Offer]) -> dict[int, int]:
    return {o.chat_id: o.agent_id for o in offers}


# --- choose_agent ----------------------------------------------------------------------


def test_nobody_is_chosen_when_there_are_no_agents() -> None:
    assert choose_agent(chat(1), []) is None


def test_an_agent_only_gets_chats_of_services_they_serve() -> None:
    billing = agent(1, {2})
    support = agent(2, {1})
    assert choose_agent(chat(10, service_id=1), [billing, support]) is support
    assert choose_agent(chat(11, service_id=2), [billing, support]) is billing
    assert choose_agent(chat(12, service_id=3), [billing, support]) is None


def test_an_agent_serving_several_services_can_take_any_of_them() -> None:
    both = agent(1, {1, 2})
    assert choose_agent(chat(1, service_id=1), [both]) is both
    assert choose_agent(chat(2, service_id=2), [both]) is both


def test_the_agent_with_the_fewest_open_chats_wins() -> None:
    busy = agent(1, open_chats=2, last=None)
    calm = agent(2, open_chats=1, last=at(-1))  # recently busy, yet fewer chats
    assert choose_agent(chat(1), [busy, calm]) is calm


def test_fewest_open_chats_beats_more_free_slots() -> None:
    big = agent(1, capacity=10, open_chats=3)
    small = agent(2, capacity=2, open_chats=1)
    assert choose_agent(chat(1), [big, small]) is small


def test_a_tie_goes_to_the_agent_idle_longest() -> None:
    recent = agent(1, open_chats=1, last=at(-60))
    idle = agent(2, open_chats=1, last=at(-3600))
    assert choose_agent(chat(1), [recent, idle]) is idle
    assert choose_agent(chat(1), [idle, recent]) is idle


def test_a_tie_goes_to_an_agent_who_never_had_a_chat() -> None:
    old_hand = agent(1, last=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    newcomer = agent(2, last=None)
    assert choose_agent(chat(1), [old_hand, newcomer]) is newcomer
    assert choose_agent(chat(1), [newcomer, old_hand]) is newcomer


def test_a_full_tie_is_broken_by_agent_id_whatever_the_order() -> None:
    a, b = agent(7, last=at(0)), agent(3, last=at(0))
    assert choose_agent(chat(1), [a, b]) is b
    assert choose_agent(chat(1), [b, a]) is b
    c, d = agent(9), agent(4)
    assert choose_agent(chat(1), [c, d]) is d


def test_an_agent_at_capacity_gets_no_offer() -> None:
    full = agent(1, capacity=2, open_chats=2)
    assert choose_agent(chat(1), [full]) is None
    assert plan_offers([chat(1)], [full], NOW) == []


def test_an_agent_over_capacity_gets_no_offer() -> None:
    # e.g. capacity lowered by an admin while chats were open
    over = agent(1, capacity=1, open_chats=3)
    assert choose_agent(chat(1), [over]) is None


def test_an_agent_with_capacity_zero_gets_no_offer() -> None:
    assert choose_agent(chat(1), [agent(1, capacity=0)]) is None


def test_an_agent_at_capacity_is_passed_over_for_one_with_a_free_slot() -> None:
    full = agent(1, capacity=1, open_chats=1, last=None)
    free = agent(2, capacity=5, open_chats=4, last=at(0))
    assert choose_agent(chat(1), [full, free]) is free


def test_an_agent_who_declined_a_chat_is_skipped_for_it() -> None:
    decliner = agent(1, open_chats=0)
    other = agent(2, open_chats=2)
    assert choose_agent(chat(1, declined={1}), [decliner, other]) is other
    assert choose_agent(chat(2), [decliner, other]) is decliner  # only for that chat


def test_a_chat_declined_by_everybody_gets_no_agent() -> None:
    assert choose_agent(chat(1, declined={1, 2}), [agent(1), agent(2)]) is None


def test_choose_agent_takes_any_iterable_of_agents() -> None:
    agents = [agent(1, open_chats=1), agent(2)]
    assert choose_agent(chat(1), (a for a in agents)) is agents[1]


def test_choose_agent_counts_planned_offers_as_open_chats() -> None:
    planned = agent(1, open_chats=0)
    planned.planned = 2
    other = agent(2, open_chats=1)
    assert planned.free_slots == 1
    assert choose_agent(chat(1), [planned, other]) is other


def test_choose_agent_changes_nothing() -> None:
    a = agent(1, last=at(5))
    choose_agent(chat(1), [a])
    assert (a.planned, a.open_chats, a.last_assigned_at) == (0, 0, at(5))


# --- plan_offers -----------------------------------------------------------------------


def test_nothing_waiting_means_no_offers() -> None:
    assert plan_offers([], [agent(1)], NOW) == []


def test_nobody_online_means_no_offers() -> None:
    assert plan_offers([chat(1), chat(2)], [], NOW) == []


def test_first_come_first_served_within_one_service() -> None:
    waiting = [chat(3, queued=30), chat(1, queued=10), chat(2, queued=20)]
    offers = plan_offers(waiting, [agent(1, capacity=2)], NOW)
    assert offers == [Offer(1, 1), Offer(2, 1)]


def test_chats_queued_at_the_same_moment_go_in_chat_id_order() -> None:
    waiting = [chat(9, queued=0), chat(4, queued=0), chat(6, queued=0)]
    offers = plan_offers(waiting, [agent(1, capacity=2)], NOW)
    assert [o.chat_id for o in offers] == [4, 6]


def test_offers_come_out_oldest_chat_first() -> None:
    waiting = [chat(i, service_id=1 + i % 2, queued=100 - i) for i in range(6)]
    agents = [agent(1, {1, 2}, capacity=6)]
    offers = plan_offers(waiting, agents, NOW)
    assert [o.chat_id for o in offers] == [5, 4, 3, 2, 1, 0]


def test_one_plan_never_exceeds_an_agents_capacity() -> None:
    waiting = [chat(i, queued=i) for i in range(10)]
    offers = plan_offers(waiting, [agent(1, capacity=3, open_chats=1)], NOW)
    assert offers == [Offer(0, 1), Offer(1, 1)]


def test_one_plan_never_offers_a_chat_twice() -> None:
    waiting = [chat(i, queued=i) for i in range(4)]
    agents = [agent(a, capacity=4) for a in range(1, 4)]
    offers = plan_offers(waiting, agents, NOW)
    assert sorted(o.chat_id for o in offers) == [0, 1, 2, 3]


def test_one_plan_spreads_chats_over_agents_by_open_chats() -> None:
    agents = [agent(1, capacity=3, open_chats=1), agent(2, capacity=3, open_chats=0)]
    offers = plan_offers([chat(i, queued=i) for i in range(5)], agents, NOW)
    # Agent 2 catches up first; then they alternate until agent 1 is full (1 open + 2).
    assert offers == [Offer(0, 2), Offer(1, 1), Offer(2, 2), Offer(3, 1), Offer(4, 2)]


def test_within_one_plan_the_agent_just_chosen_counts_as_most_recently_busy() -> None:
    never = agent(1, open_chats=0, last=None)
    yesterday = agent(2, open_chats=1, last=NOW - dt.timedelta(days=1))
    offers = plan_offers([chat(1, queued=1), chat(2, queued=2)], [never, yesterday], NOW)
    # chat 1: agent 1 has fewer chats. chat 2: both have one; agent 1 was just busy.
    assert offers == [Offer(1, 1), Offer(2, 2)]


def test_two_idle_agents_share_a_burst_of_chats_in_turn() -> None:
    agents = [agent(1, capacity=5), agent(2, capacity=5)]
    offers = plan_offers([chat(i, queued=i) for i in range(6)], agents, NOW)
    assert [o.agent_id for o in offers] == [1, 2, 1, 2, 1, 2]


def test_a_plan_records_planned_offers_on_the_agents() -> None:
    a, b = agent(1, capacity=2), agent(2, capacity=1)
    plan_offers([chat(i, queued=i) for i in range(5)], [a, b], NOW)
    assert (a.planned, b.planned) == (2, 1)
    assert a.free_slots == 0 and b.free_slots == 0
    assert a.last_assigned_at == NOW and b.last_assigned_at == NOW


def test_an_agent_not_chosen_keeps_their_last_assignment_time() -> None:
    billing = agent(1, {2}, last=at(3))
    plan_offers([chat(1, service_id=1)], [agent(2), billing], NOW)
    assert billing.last_assigned_at == at(3) and billing.planned == 0


def test_an_agent_who_declined_is_skipped_but_gets_the_next_chat() -> None:
    a, b = agent(1), agent(2, open_chats=2)
    offers = plan_offers([chat(1, queued=1, declined={1}), chat(2, queued=2)], [a, b], NOW)
    assert offers == [Offer(1, 2), Offer(2, 1)]


def test_a_chat_declined_by_everybody_waits_without_blocking_the_next() -> None:
    waiting = [chat(1, queued=1, declined={1}), chat(2, queued=2)]
    assert plan_offers(waiting, [agent(1, capacity=1)], NOW) == [Offer(2, 1)]


def test_a_chat_nobody_can_take_does_not_block_later_chats_of_other_services() -> None:
    waiting = [
        chat(1, service_id=9, queued=1),  # nobody serves 9
        chat(2, service_id=1, queued=2),
        chat(3, service_id=2, queued=3),
    ]
    agents = [agent(1, {1}), agent(2, {2})]
    assert offered_to(plan_offers(waiting, agents, NOW)) == {2: 1, 3: 2}


def test_a_full_service_does_not_block_another_service() -> None:
    waiting = [chat(1, 1, queued=1), chat(2, 1, queued=2), chat(3, 2, queued=3)]
    agents = [agent(1, {1}, capacity=1), agent(2, {2}, capacity=1)]
    assert offered_to(plan_offers(waiting, agents, NOW)) == {1: 1, 3: 2}


def test_a_chat_goes_to_the_only_agent_who_serves_its_service() -> None:
    waiting = [chat(1, 1, queued=1), chat(2, 2, queued=2)]
    generalist = agent(1, {1, 2}, capacity=1, last=None)
    specialist = agent(2, {2}, capacity=1, last=at(0))
    # The generalist takes the first chat; the specialist still gets the second.
    assert offered_to(plan_offers(waiting, [generalist, specialist], NOW)) == {1: 1, 2: 2}


# --- queue_positions and estimated_wait_seconds ---------------------------------------


def test_queue_positions_of_an_empty_queue() -> None:
    assert queue_positions([]) == {}


def test_queue_positions_count_from_one_per_service_by_arrival() -> None:
    waiting = [
        chat(5, service_id=1, queued=50),
        chat(1, service_id=2, queued=10),
        chat(3, service_id=1, queued=30),
        chat(2, service_id=1, queued=20),
        chat(4, service_id=2, queued=40),
    ]
    assert queue_positions(waiting) == {2: 1, 3: 2, 5: 3, 1: 1, 4: 2}


def test_queue_positions_break_ties_by_chat_id() -> None:
    waiting = [chat(8, queued=0), chat(2, queued=0), chat(5, queued=0)]
    assert queue_positions(waiting) == {2: 1, 5: 2, 8: 3}


@pytest.mark.parametrize(
    ("position", "agents", "average", "expected"),
    [
        (1, 1, 60.0, 60),
        (2, 1, 60.0, 120),
        (3, 3, 60.0, 60),
        (1, 2, 60.0, 30),
        (3, 2, 45.0, 68),  # 67.5 → 68
        (5, 0, 10.0, 50),  # nobody online counts as one
        (5, -2, 10.0, 50),
        (1, 4, 0.0, 0),
        (4, 2, -30.0, 0),  # a nonsense average never gives a negative wait
    ],
)
def test_estimated_wait_scales_the_average_by_place_in_line_per_agent(
    position: int, agents: int, average: float, expected: int
) -> None:
    result = estimated_wait_seconds(position, agents, average)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize("position", [0, -1, -100])
def test_a_chat_not_in_line_has_no_wait(position: int) -> None:
    assert estimated_wait_seconds(position, 1, 120.0) == 0


@HYPOTHESIS
@given(
    position=st.integers(min_value=-5, max_value=1000),
    agents=st.integers(min_value=-2, max_value=50),
    average=st.floats(min_value=-1e4, max_value=1e6, allow_nan=False),
)
def test_estimated_wait_is_a_non_negative_whole_number_growing_with_position(
    position: int, agents: int, average: float
) -> None:
    wait = estimated_wait_seconds(position, agents, average)
    assert isinstance(wait, int) and wait >= 0
    assert estimated_wait_seconds(position + 1, agents, average) >= wait


@HYPOTHESIS
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=3), st.integers(min_value=0, max_value=20)),
        max_size=20,
    )
)
def test_queue_positions_are_one_to_n_within_every_service(entries: list[tuple[int, int]]) -> None:
    waiting = [chat(i, service_id=s, queued=q) for i, (s, q) in enumerate(entries)]
    positions = queue_positions(waiting)
    assert set(positions) == {c.chat_id for c in waiting}
    for service in {c.service_id for c in waiting}:
        line = sorted(
            (c for c in waiting if c.service_id == service), key=lambda c: (c.queued_at, c.chat_id)
        )
        assert [positions[c.chat_id] for c in line] == list(range(1, len(line) + 1))


# --- properties of a plan --------------------------------------------------------------


@dataclass(frozen=True)
class AgentSnapshot:
    agent_id: int
    services: frozenset[int]
    capacity: int
    open_chats: int


SERVICES = st.integers(min_value=1, max_value=3)
TIMES = st.integers(min_value=0, max_value=10_000).map(at)


@st.composite
def desks(
    draw: st.DrawFn, single_service: bool = False, declines: bool = True
) -> tuple[list[WaitingChat], list[AvailableAgent]]:
    agent_ids = draw(st.lists(st.integers(min_value=1, max_value=50), unique=True, max_size=6))
    agents = [
        AvailableAgent(
            agent_id=agent_id,
            services=frozenset({1})
            if single_service
            else draw(st.frozensets(SERVICES, min_size=1, max_size=3)),
            capacity=draw(st.integers(min_value=0, max_value=4)),
            open_chats=draw(st.integers(min_value=0, max_value=4)),
            last_assigned_at=draw(st.none() | TIMES),
        )
        for agent_id in agent_ids
    ]
    chat_ids = draw(st.lists(st.integers(min_value=1, max_value=500), unique=True, max_size=15))
    waiting = [
        WaitingChat(
            chat_id=chat_id,
            service_id=1 if single_service else draw(SERVICES),
            queued_at=draw(TIMES),
            declined_by=draw(st.frozensets(st.sampled_from(agent_ids), max_size=3))
            if declines and agent_ids
            else frozenset(),
        )
        for chat_id in chat_ids
    ]
    return waiting, agents


def _snapshot(agents: list[AvailableAgent]) -> list[AgentSnapshot]:
    return [AgentSnapshot(a.agent_id, a.services, a.capacity, a.open_chats) for a in agents]


def _check_plan(
    waiting: list[WaitingChat], before: list[AgentSnapshot], offers: list[Offer]
) -> None:
    chats = {c.chat_id: c for c in waiting}
    agents = {a.agent_id: a for a in before}
    offered = [o.chat_id for o in offers]
    assert len(offered) == len(set(offered)), "a chat was offered twice"
    per_agent = Counter(o.agent_id for o in offers)
    for offer in offers:
        c, a = chats[offer.chat_id], agents[offer.agent_id]
        assert c.service_id in a.services, "offer outside the agent's services"
        assert a.agent_id not in c.declined_by, "offer to an agent who declined"
    for a in before:
        assert per_agent[a.agent_id] <= max(0, a.capacity - a.open_chats), "over capacity"
    # Maximal: no chat left waiting has an eligible agent with a slot still free.
    for c in waiting:
        if c.chat_id in set(offered):
            continue
        for a in before:
            free = a.capacity - a.open_chats - per_agent[a.agent_id]
            eligible = c.service_id in a.services and a.agent_id not in c.declined_by
            assert not (eligible and free > 0), (c, a)


def _check_each_offer_went_to_the_least_loaded_eligible_agent(
    waiting: list[WaitingChat], before: list[AgentSnapshot], offers: list[Offer]
) -> None:
    chats = {c.chat_id: c for c in waiting}
    load = {a.agent_id: a.open_chats for a in before}
    for offer in offers:
        c = chats[offer.chat_id]
        eligible = [
            a
            for a in before
            if c.service_id in a.services
            and a.agent_id not in c.declined_by
            and load[a.agent_id] < a.capacity
        ]
        assert min(load[a.agent_id] for a in eligible) == load[offer.agent_id]
        load[offer.agent_id] += 1


@HYPOTHESIS
@given(desk=desks())
def test_every_plan_is_valid_fair_maximal_oldest_first_and_order_independent(
    desk: tuple[list[WaitingChat], list[AvailableAgent]],
) -> None:
    waiting, agents = desk
    before = _snapshot(agents)
    copies = [
        AvailableAgent(a.agent_id, a.services, a.capacity, a.open_chats, a.last_assigned_at)
        for a in reversed(agents)
    ]
    offers = plan_offers(waiting, agents, NOW)
    # valid, at most once per chat, within every capacity, and maximal
    _check_plan(waiting, before, offers)
    # fewest open chats (counting this plan's offers) among the eligible
    _check_each_offer_went_to_the_least_loaded_eligible_agent(waiting, before, offers)
    # oldest chat first
    chats = {c.chat_id: c for c in waiting}
    keys = [(chats[o.chat_id].queued_at, o.chat_id) for o in offers]
    assert keys == sorted(keys)
    # the same plan whatever order the snapshot lists chats and agents in
    assert plan_offers(list(reversed(waiting)), copies, NOW) == offers


@HYPOTHESIS
@given(desk=desks(single_service=True, declines=False))
def test_one_service_without_declines_offers_exactly_the_oldest_chats(
    desk: tuple[list[WaitingChat], list[AvailableAgent]],
) -> None:
    waiting, agents = desk
    free = sum(max(0, a.capacity - a.open_chats) for a in agents)
    offers = plan_offers(waiting, agents, NOW)
    line = sorted(waiting, key=lambda c: (c.queued_at, c.chat_id))
    k = min(len(waiting), free)
    assert sorted(o.chat_id for o in offers) == sorted(c.chat_id for c in line[:k])


@HYPOTHESIS
@given(desk=desks(declines=False))
def test_without_declines_each_service_is_served_first_come_first_served(
    desk: tuple[list[WaitingChat], list[AvailableAgent]],
) -> None:
    waiting, agents = desk
    offered = {o.chat_id for o in plan_offers(waiting, agents, NOW)}
    for service in {c.service_id for c in waiting}:
        line = sorted(
            (c for c in waiting if c.service_id == service), key=lambda c: (c.queued_at, c.chat_id)
        )
        taken = [c.chat_id in offered for c in line]
        # offered chats form a prefix of the service's line
        assert taken == sorted(taken, reverse=True), (service, taken)
