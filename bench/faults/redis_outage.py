"""Scenario 3: the bus (Redis) is down for a while under load, then comes back.

Two processes share the bus, so live delivery between them needs it. While Redis
is down messages are still stored and acknowledged, but their live delivery is lost
(pub/sub is at-most-once); after it returns, the next message shows the receiver a
`seq` gap, which it fills with `fetch` from the database. Nothing may be lost.
"""

from __future__ import annotations

import asyncio

from bench.faults.scenario import Load, Report, Stage, run_scenario

PROFILES = {
    "short": (Load(chats=16, agents=4, messages=20, processes=2), 4.0),
    # ~2 minutes: 100 chats at 1 msg/s each way, Redis down 10 s in the middle.
    "long": (Load(chats=100, agents=10, messages=60, processes=2), 10.0),
}


def chaos(down_seconds: float) -> object:
    async def run(stage: Stage) -> None:
        redis = stage.cluster.redis
        assert redis is not None
        await asyncio.sleep(max(0.0, (stage.load.talk_seconds - down_seconds) / 2))
        redis.stop()
        stage.counts["redis stopped"] += 1
        await asyncio.sleep(down_seconds)
        redis.start()

    return run


async def main(profile: str) -> Report:
    load, down = PROFILES[profile]
    return await run_scenario(f"redis_outage/{profile}", load, chaos(down))  # type: ignore[arg-type]
