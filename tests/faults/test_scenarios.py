"""The issue's fault scenarios, scaled down to run in `make test` (bench/faults/).

Each starts its own PostgreSQL, Redis and `python -m chat serve` processes on free
ports and runs the scenario's `short` profile: the same code as the long runs in
docs/reliability.md, fewer chats and shorter outages. They assert what must always
hold — nothing lost, nothing shown twice, order kept, every client back and every chat
finished — and no timing: how fast clients resume (the issue's 5 s) is a figure of the
long runs (`python -m bench.faults`, docs/reliability.md), which a loaded CI machine
must not turn into a red build.
"""

from __future__ import annotations

import pytest

from bench.faults import converter_kill, drops, kill9, pg_restart, redis_outage, slow_consumer
from bench.faults.scenario import Report

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fault-scenarios")]


def _judge(report: Report) -> None:
    assert report.ok, "\n".join(report.lines())
    assert report.chats_done == report.load.chats


async def test_every_client_dropped_three_times_loses_nothing_and_keeps_order() -> None:
    report = await drops.main("short")
    _judge(report)
    assert report.counts["drops"] == 3 * (report.load.chats + report.load.agents)
    assert report.resumes, report.lines()  # clients did reconnect, and every chat finished


async def test_kill_9_of_one_of_two_processes_keeps_every_acknowledged_message() -> None:
    report = await kill9.main("short")
    _judge(report)
    assert report.counts["kill -9"] >= 2
    assert report.resumes, report.lines()  # clients did reconnect, and every chat finished
    assert report.agent_changed == 0  # the agent was back in time: the chat stayed theirs


async def test_redis_down_under_load_leaves_gaps_that_are_filled_from_the_database() -> None:
    report = await redis_outage.main("short")
    _judge(report)
    assert report.gaps_fetched > 0  # the outage did cost live deliveries, and they came back


async def test_postgres_restart_under_load_gives_errors_not_acks_and_recovers() -> None:
    report = await pg_restart.main("short")
    # No ack without a stored row, and the order kept across the outage: a message sent
    # as PostgreSQL returns is refused until the earlier refused one is sent again
    # (chat/transcripts.py, `SendOrder`).
    assert report.verification_ok, report.lines()
    assert report.lost == report.shown_twice == report.unacked == report.holes == 0
    assert report.order_violations == 0, report.lines()
    assert report.chats_done == report.load.chats, report.lines()
    assert report.errors["database_unavailable"] > 0


async def test_ending_chats_while_the_converting_process_is_killed_makes_one_ticket_each() -> None:
    report = await converter_kill.main("short")
    _judge(report)  # the database check: exactly one ticket per chat, whole transcript
    assert any("ended without a ticket 0" in note for note in report.notes), report.notes


async def test_a_slow_consumer_with_a_backlog_beyond_the_queue_limit_resumes() -> None:
    report = await slow_consumer.main("short")
    _judge(report)
