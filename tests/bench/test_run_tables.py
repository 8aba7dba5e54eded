"""`bench.run`'s tables for whichever targets ran: a run of Chatdesk alone (a profile, an
A/B of two checkouts) must print its table too, not fail after minutes of load."""

from __future__ import annotations

from collections import Counter

from bench.loadgen import PROFILES, RunResult, StepResult
from bench.run import sweep_table, table


def _result(target: str, cpu_s: float) -> RunResult:
    step = StepResult(2000, 10.0, 20_000, 20_000, [1.0, 2.0], cpu_s, 1.0)
    return RunResult(
        target=target,
        profile=PROFILES["short"],
        chats=[],
        latencies_ms=[1.0, 2.0],
        ack_latencies_ms=[],
        acked_ids=set(),
        sent=20_000,
        delivered=20_000,
        redelivered=0,
        unknown=0,
        errors=Counter(),
        window=(0.0, 10.0),
        window_kind="sweep steps",
        delivered_in_window=20_000,
        server_cpu_window_s=cpu_s,
        server_main_thread_cpu_window_s=cpu_s,
        server_cpu_total_s=cpu_s,
        generator_cpu_window_s=1.0,
        rss_idle_kb=1024,
        rss_peak_kb=2048,
        connections_at_peak=10,
        duration_s=10.0,
        steps=[step],
    )


def _header(rendered: str) -> list[str]:
    return [cell.strip() for cell in rendered.splitlines()[0].strip("|").split("|")]


def test_chatdesk_alone_gets_its_tables_without_ratios() -> None:
    results = [_result("chatdesk", 3.0)]
    assert _header(table(results)) == ["metric", "chatdesk"]
    assert "÷" not in sweep_table(results)


def test_the_baseline_and_chatdesk_get_one_ratio_column() -> None:
    rendered = table([_result("baseline", 1.0), _result("chatdesk", 3.0)])
    assert _header(rendered) == ["metric", "baseline", "chatdesk", "ratio"]
    assert "| server CPU µs/msg (steady) | 50 | 150 | 3.00× |" in rendered


def test_with_the_floor_each_target_is_divided_by_the_baseline_and_chatdesk_by_the_floor() -> None:
    results = [_result("baseline", 1.0), _result("floor", 2.0), _result("chatdesk", 3.0)]
    rendered = table(results)
    assert _header(rendered)[4:] == [
        "floor ÷ baseline",
        "chatdesk ÷ baseline",
        "chatdesk ÷ floor",
    ]
    assert "| server CPU µs/msg (steady) | 50 | 100 | 150 | 2.00× | 3.00× | 1.50× |" in rendered
    swept = sweep_table(results).splitlines()
    assert swept[0].endswith("| CPU floor ÷ baseline | CPU chatdesk ÷ baseline |")
    assert swept[2].endswith("| 2.00× | 3.00× |")
