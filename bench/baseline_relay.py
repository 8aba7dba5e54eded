"""The baseline: a bare `websockets` relay that pairs sockets and forwards frames. Nothing else.

It is the physical limit of this machine, this Python and this client library: no
JSON parsing, no validation, no database, no bus. Every Chatdesk figure is reported
as a ratio to what the same generator measured here in the same run.

Protocol: the first frame of a connection is JSON `{"pair": <id>, "role": <name>}`
(other keys are ignored); every later frame is forwarded verbatim to the other
connection of the same pair. A frame that arrives before the other side has joined
waits for it (bounded), so the generator needs no acknowledgement frames.

    python -m bench.baseline_relay --port 9001
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench import event_loop

# A frame for a side that never joins is dropped after this long.
PEER_WAIT_SECONDS = 10.0


@dataclass
class Pair:
    sides: dict[str, ServerConnection] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)


class Relay:
    def __init__(self) -> None:
        self.pairs: dict[str, Pair] = {}

    async def handle(self, ws: ServerConnection) -> None:
        joined = await read_join(ws)
        if joined is None:
            return
        pair_id, role = joined
        pair = self.pairs.setdefault(pair_id, Pair())
        pair.sides[role] = ws
        if len(pair.sides) >= 2:
            pair.complete.set()
        peer: ServerConnection | None = None
        try:
            async for frame in ws:
                if peer is None:
                    peer = await self._peer(pair, role)
                    if peer is None:
                        continue
                try:
                    await peer.send(frame)
                except ConnectionClosed:
                    peer = None
        except ConnectionClosed:
            pass
        finally:
            if pair.sides.get(role) is ws:
                del pair.sides[role]
            if not pair.sides:
                self.pairs.pop(pair_id, None)

    async def _peer(self, pair: Pair, role: str) -> ServerConnection | None:
        try:
            async with asyncio.timeout(PEER_WAIT_SECONDS):
                await pair.complete.wait()
        except TimeoutError:
            return None
        return next((ws for r, ws in pair.sides.items() if r != role), None)


async def read_join(ws: ServerConnection) -> tuple[str, str] | None:
    """The pair and role the first frame names; None (and the socket closed) otherwise."""
    try:
        first = json.loads(await ws.recv())
        return str(first["pair"]), str(first["role"])
    except (ConnectionClosed, ValueError, KeyError, TypeError):
        await ws.close(1008)
        return None


async def serve_until_stopped(
    name: str, handler: Callable[[ServerConnection], Awaitable[None]], host: str, port: int
) -> None:
    """Serve sockets until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Library defaults (permessage-deflate, 1 MiB frames, 20 s pings), as uvicorn's are
    # for Chatdesk: the baseline is "what you get for free", not a tuned special case.
    async with serve(handler, host, port):
        print(f"{name} listening on ws://{host}:{port}", flush=True)
        await stop.wait()


async def main(host: str, port: int) -> None:
    await serve_until_stopped("relay", Relay().handle, host, port)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The collector settings and loop `serve` runs with: a process-wide choice, not a
    # library's, so the baseline gets them too and no ratio owes anything to them.
    event_loop.run(main(args.host, args.port))


if __name__ == "__main__":
    run()
