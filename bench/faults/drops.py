"""Scenario 1: every client's network drops three times at random, for a random while.

Customers and agent consoles alike lose their socket without a close frame (the
transport is aborted: a train tunnel, not a closed tab), stay away for a uniformly
random time, then reconnect with their token and last seen `seq` and resend what was
never acknowledged. The conversation keeps its clock meanwhile: what a side "says"
while offline waits in its outbox, as in the real widget.
"""

from __future__ import annotations

import asyncio
import random

from bench.faults.clients import Peer
from bench.faults.scenario import Load, Report, Stage, run_scenario

PROFILES = {
    # ~1 minute: 20 chats, drops of 0.5–3 s.
    "short": (Load(chats=20, agents=4, messages=24, processes=1), 0.5, 3.0),
    # ~5 minutes: 200 chats at 1 msg/s each way for 150 s, drops of 1–60 s (the last ones
    # may end after the talk: the clients then resume and deliver what waited).
    "long": (Load(chats=200, agents=20, messages=150, processes=1, settle_seconds=150), 1.0, 60.0),
}
DROPS_PER_CLIENT = 3
ONLINE_BETWEEN_DROPS = 2.0  # seconds: long enough to reconnect and resume in between


def chaos(low: float, high: float) -> object:
    async def run(stage: Stage) -> None:
        # Online for a while between drops (≥ ONLINE_BETWEEN_DROPS, else two drops are
        # one long one); the drops may outlast the talk: the run waits for them.
        talk = stage.load.talk_seconds
        gap = max(ONLINE_BETWEEN_DROPS, talk / DROPS_PER_CLIENT - (low + high) / 2)

        async def client(peer: Peer) -> None:
            for _ in range(DROPS_PER_CLIENT):
                await asyncio.sleep(random.uniform(ONLINE_BETWEEN_DROPS, gap))
                stage.counts["drops"] += 1
                await peer.drop(random.uniform(low, high))

        await asyncio.gather(*(client(p) for p in stage.peers))

    return run


async def main(profile: str) -> Report:
    load, low, high = PROFILES[profile]
    return await run_scenario(f"drops/{profile}", load, chaos(low, high))  # type: ignore[arg-type]
