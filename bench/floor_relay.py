"""The floor: the baseline relay plus only what issue 3 requires of every message.

The relay (`bench.baseline_relay`) reads a frame and writes it to the other side. Issue 3
asks more of each chat message, whatever the code that does it: it is parsed, stored
durably before anyone sees it (once, whatever the client resends), published on Redis so
that every process with a socket of the chat gets it, and written to both sides: the
other one, and the sender's own socket, which learns its number that way. This server
does exactly that and nothing else, the cheapest way we know: one `INSERT … SELECT FROM
unnest(…)` per group commit (the same 5 ms window as Chatdesk's writer) on an asyncpg
connection, the commit's events as one write of packed `PUBLISH` commands, and each
event, read back from Redis, encoded once and written to the chat's sockets. There is no
validation, no login, no routing, no rate limit, no chat state and no per-chat numbering.

So it is not a chat server: it is the price of the issue's own requirements on this
machine. `python -m bench.run --targets baseline,floor,chatdesk` measures all three with
one schedule; Chatdesk's CPU per message against the floor's says how much of the gap to
the relay is Chatdesk's code, and the floor's against the relay's how much is the work.

Protocol: the relay's (first frame `{"pair": <id>, "role": <name>}`); a later frame of
type `message` is stored and comes back to every socket of the pair as
`{"type": "message", "chat_id", "seq", "sender", "client_id", "body", "created_at"}`;
any other frame goes to the pair's other sockets as it is.

    python -m bench.floor_relay --port 9002 --database-url postgresql://… --redis-url redis://…
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import traceback
from urllib.parse import urlsplit

import asyncpg
from redis.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bench import event_loop
from bench.baseline_relay import read_join, serve_until_stopped

# Chatdesk's group-commit window (chat/transcripts.py), so both commit the same batches.
GROUP_COMMIT_WINDOW_SECONDS = 0.005
TABLE = "bench_floor_messages"
SCHEMA = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE TABLE {TABLE} (
  id bigserial PRIMARY KEY,
  chat_id integer NOT NULL,
  sender text NOT NULL,
  client_id text NOT NULL,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chat_id, sender, client_id)
)
"""
# A resend (same chat, sender and client id) is stored once; what is new comes back.
STORE = f"""
INSERT INTO {TABLE} (chat_id, sender, client_id, body)
SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING
RETURNING id, chat_id, sender, client_id, body, created_at
"""
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class Floor:
    def __init__(self, database_url: str, redis_url: str) -> None:
        self.database_url = database_url
        parts = urlsplit(redis_url)
        self.redis = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 6379,
            # As chat/bus/redis.py: RESP2 (pub/sub replies as plain arrays), and no socket
            # timeout (a listener waits as long as it takes).
            "protocol": 2,
            "socket_timeout": None,
        }
        self.sockets: dict[int, set[ServerConnection]] = {}
        self.queue: list[tuple[int, str, str, str]] = []
        self.wake = asyncio.Event()
        self.confirmed: dict[bytes, asyncio.Future[None]] = {}

    async def start(self) -> list[asyncio.Task[None]]:
        self.db = await asyncpg.connect(self.database_url)
        await self.db.execute(SCHEMA)
        self.publisher = Connection(**self.redis)
        self.listener = Connection(**self.redis)
        await self.publisher.connect()
        await self.listener.connect()
        tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._listen())]
        for task in tasks:
            task.add_done_callback(_fail_loudly)
        return tasks

    async def handle(self, ws: ServerConnection) -> None:
        joined = await read_join(ws)
        if joined is None or not joined[0].isdigit():
            await ws.close(1008)
            return
        pair, role = int(joined[0]), joined[1]
        sockets = self.sockets.setdefault(pair, set())
        sockets.add(ws)
        if len(sockets) == 1:
            await self._subscribe(pair)
        try:
            async for frame in ws:
                data = json.loads(frame)
                if data.get("type") == "message":
                    self.queue.append((pair, role, data["client_id"], data["body"]))
                    self.wake.set()
                    continue
                for other in list(sockets):
                    if other is not ws:
                        await _send(other, frame)
        except ConnectionClosed:
            pass
        finally:
            sockets.discard(ws)
            if not sockets:
                del self.sockets[pair]
                await self.listener.send_command("UNSUBSCRIBE", f"floor:{pair}")

    async def _subscribe(self, pair: int) -> None:
        channel = f"floor:{pair}".encode()
        done = self.confirmed[channel] = asyncio.get_running_loop().create_future()
        await self.listener.send_command("SUBSCRIBE", channel)
        await done

    async def _write(self) -> None:
        """Group commit, then publish what was stored: persist before deliver."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            await asyncio.sleep(GROUP_COMMIT_WINDOW_SECONDS)
            batch, self.queue = self.queue, []
            rows = await self.db.fetch(
                STORE,
                [m[0] for m in batch],
                [m[1] for m in batch],
                [m[2] for m in batch],
                [m[3] for m in batch],
            )
            events = [
                (
                    f"floor:{row[1]}",
                    _encode(
                        {
                            "type": "message",
                            "chat_id": row[1],
                            "seq": row[0],
                            "sender": row[2],
                            "client_id": row[3],
                            "body": row[4],
                            "created_at": row[5].isoformat(),
                        }
                    ),
                )
                for row in rows
            ]
            if events:
                commands = self.publisher.pack_commands([("PUBLISH", c, e) for c, e in events])
                await self.publisher.send_packed_command(commands, check_health=False)
                for _ in events:
                    await self.publisher.read_response()

    async def _listen(self) -> None:
        while True:
            reply = await self.listener.read_response()
            kind, channel = reply[0], reply[1]
            if kind == b"message":
                sockets = self.sockets.get(int(channel[6:]))
                if sockets:
                    text = reply[2].decode()
                    for ws in list(sockets):
                        await _send(ws, text)
            elif kind == b"subscribe":
                done = self.confirmed.pop(channel, None)
                if done is not None and not done.done():
                    done.set_result(None)


def _fail_loudly(task: asyncio.Task[None]) -> None:
    """A dead writer or listener would stall every chat silently: end the process."""
    if not task.cancelled() and task.exception() is not None:
        traceback.print_exception(task.exception())
        os._exit(1)


async def _send(ws: ServerConnection, frame: str | bytes) -> None:
    try:
        await ws.send(frame)
    except ConnectionClosed:
        pass


async def main(host: str, port: int, database_url: str, redis_url: str) -> None:
    floor = Floor(database_url, redis_url)
    tasks = await floor.start()
    # The relay's socket settings (the library's defaults): only the work differs.
    await serve_until_stopped("floor", floor.handle, host, port)
    for task in tasks:
        task.cancel()
    await floor.db.close()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True, help="PostgreSQL (the bench's own)")
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    url = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    event_loop.run(main(args.host, args.port, url, args.redis_url))


if __name__ == "__main__":
    run()
