"""What one chat starting and one ending cost the bus's subscriptions, by channels held.

    python -m bench.bus_channels [--channels 10000] [--changes 2000]

A desk with 5,000 open chats holds ~10,000 bus channels (a chat's and its sockets').
Each chat that ends closes its channel and each new one opens one; the bus's syncer
then reconciles the upstream subscriptions. This prints the CPU of one close plus one
subscribe, each awaited until it is in effect, on the in-process bus (the syncer's own
work, without Redis round trips). Bounded: in-process, a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from chat.bus import Bus, Event


def _ignore(channel: str, event: Event) -> None:
    return None


async def measure(channels: int, changes: int) -> float:
    async with Bus("memory://", prefix="bench") as bus:
        held = [bus.subscribe(f"chat:{n}", _ignore) for n in range(channels)]
        for subscription in held:
            await subscription.ready()
        cpu = time.process_time()
        for n in range(changes):
            held[n % channels].close()
            await bus.subscribe(f"new:{n}", _ignore).ready()
        return (time.process_time() - cpu) * 1e6 / changes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=2_000)
    args = parser.parse_args(argv)
    per_change = asyncio.run(measure(args.channels, min(args.changes, args.channels)))
    print(f"{args.channels:,} channels held: {per_change:,.0f} µs of CPU a chat ended and started")


if __name__ == "__main__":
    main()
