"""Scenario 4: PostgreSQL stops (immediate mode: connections cut) under load, then restarts.

While it is down a message gets `error{code:"database_unavailable"}` and no `ack`;
the client keeps it and resends it with the same `client_id`. The pool reconnects
by itself. Every acknowledged message must be stored; none twice.
"""

from __future__ import annotations

import asyncio

from bench.faults.scenario import Load, Report, Stage, run_scenario

PROFILES = {
    "short": (Load(chats=16, agents=4, messages=20, processes=2), 3.0),
    # ~2 minutes: 100 chats at 1 msg/s each way, PostgreSQL down ~10 s in the middle.
    "long": (Load(chats=100, agents=10, messages=60, processes=2), 10.0),
}


def chaos(down_seconds: float) -> object:
    async def run(stage: Stage) -> None:
        pg = stage.cluster.postgres
        await asyncio.sleep(max(0.0, (stage.load.talk_seconds - down_seconds) / 2))
        await asyncio.to_thread(pg.stop)
        stage.counts["postgres stopped"] += 1
        await asyncio.sleep(down_seconds)
        await asyncio.to_thread(pg.start)

    return run


async def main(profile: str) -> Report:
    load, down = PROFILES[profile]
    return await run_scenario(f"pg_restart/{profile}", load, chaos(down))  # type: ignore[arg-type]
