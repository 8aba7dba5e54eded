"""Scenario 2: two app processes share PostgreSQL and Redis; one is `kill -9`ed, again and again.

Clients are spread over both processes. Every `interval` seconds one process (the
one holding more clients, alternately) is killed with SIGKILL — no shutdown, no
goodbye frames, its in-flight commits cut — and restarted at once. Its clients
reconnect to the survivor (then back, as the next kill hits the other), resume by
`seq`, resend what was never acknowledged; the agent must still be the one who
took the chat when that agent is connected somewhere (the grace period covers it).
"""

from __future__ import annotations

import asyncio
import random

from bench.faults.scenario import Load, Report, Stage, run_scenario

PROFILES = {
    # ~1 minute: 2 kills.
    "short": (Load(chats=16, agents=4, messages=24, processes=2), 2),
    # ~4 minutes: 20 kills, one every ~7 s (each waits for the last restart), 60 chats at
    # 1 msg/s each way.
    "long": (Load(chats=60, agents=10, messages=150, processes=2, settle_seconds=120), 20),
}


def chaos(kills: int) -> object:
    async def run(stage: Stage) -> None:
        cluster = stage.cluster
        every = stage.load.talk_seconds / (kills + 1)
        for n in range(kills):
            await asyncio.sleep(every * random.uniform(0.7, 1.0))
            # Never kill the last one standing: wait until the other is back.
            while not all(cluster.alive(i) for i in range(len(cluster.ports))):
                await asyncio.sleep(0.1)
            victim = n % len(cluster.ports)
            cluster.kill9(victim)
            stage.counts["kill -9"] += 1
            await cluster.restart(victim)

    return run


async def main(profile: str) -> Report:
    load, kills = PROFILES[profile]
    return await run_scenario(f"kill9/{profile}", load, chaos(kills))  # type: ignore[arg-type]
