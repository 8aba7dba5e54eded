"""Scenario 6: a customer's tab freezes (stops reading) while the agent keeps writing.

The server's per-connection send queue is bounded (`SEND_QUEUE_LIMIT`): once it is
full the connection is closed with 4408 instead of buffering without end (or the
keepalive drops it first), so the server's memory stays flat; when the tab wakes up
it reconnects and resumes from the transcript, the replay flowing at its pace.
Measured: the close code, the server's RSS before / at the peak / after, and how
long the resume of the whole backlog takes.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
import uuid
from collections import Counter

from bench.faults.clients import Agent, Customer
from bench.faults.cluster import cluster
from bench.faults.scenario import (
    Conversation,
    Load,
    Report,
    Stage,
    _until,
    end_conversation,
    judge,
)
from bench.faults.scenario import open_conversation as open_chat
from bench.metrics import rss_kb

# The server lets go of a client that stops reading either way: its send queue fills
# (4408), or its keepalive pings go unanswered first and the socket is dropped (1006,
# or 1011 when a close frame still gets through). Both end in a resume from the
# transcript.
DISCONNECTED = {4408, 1006, 1011}
CATCH_UP_SECONDS = 150.0

PROFILES = {
    "short": (Load(chats=1, agents=1, messages=0, processes=1), 1000, 200),
    "long": (Load(chats=1, agents=1, messages=0, processes=1), 2000, 200),
}


async def main(profile: str) -> Report:
    load, messages, limit = PROFILES[profile]
    started = time.perf_counter()
    settings = {"SEND_QUEUE_LIMIT": str(limit)}
    async with cluster(1, 1, 2, redis=False, settings=settings) as c:
        proc = c.procs[0]
        assert proc is not None
        agent = Agent(c, 0, 0)
        await agent.log_in()
        agent.start()
        await asyncio.wait_for(agent.online.wait(), 30)
        await asyncio.sleep(1.0)
        conv = Conversation(0, Customer(c, 0, f"slow-{uuid.uuid4().hex[:6]}"))
        stage = Stage(c, load, [conv], [agent])
        await open_chat(stage, conv, {agent.agent_id: agent} if agent.agent_id else {})
        customer = conv.customer
        assert customer.ws is not None and conv.chat_id is not None
        sock = customer.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        customer.ws.transport.pause_reading()  # the tab freezes
        before = rss_kb(proc.pid)
        peak = before
        bodies = [secrets.token_urlsafe(3600) for _ in range(50)]  # random: no deflate gain
        for n in range(messages):
            agent.say(conv.chat_id, uuid.uuid4().hex, f"{n} {bodies[n % 50]}")
            if n % 50 == 0:
                await asyncio.sleep(0.01)
                peak = max(peak, rss_kb(proc.pid))

        def all_acked() -> bool:
            nonlocal peak
            peak = max(peak, rss_kb(proc.pid))
            return not agent.pending.get(conv.chat_id or 0)

        await _until(all_acked, 120)
        after = rss_kb(proc.pid)
        woke = time.perf_counter()
        customer.expected = messages
        customer.ws.transport.resume_reading()  # the tab wakes up: close frame, reconnect
        # Its receive buffer stays tiny (4 kB, set above), so the backlog trickles in
        # at ~100 kB/s: give it the time that takes, not a fast link's.
        caught_up = await _until(
            lambda: len(customer.view(conv.chat_id or 0).shown_ids("agent")) >= messages,
            CATCH_UP_SECONDS,
        )
        resumed = time.perf_counter() - woke
        stage.counts.update(Counter(f"close {code}" for code in customer.close_codes))
        stage.notes.append(
            f"{messages} messages of ~3.6 kB to a customer that stopped reading; send queue "
            f"limit {limit}; closed with {customer.close_codes}; server RSS {before // 1024} MiB "
            f"before, {peak // 1024} MiB at the peak, {after // 1024} MiB after; woken, it showed "
            f"every message {resumed:.2f} s later ({'caught up' if caught_up else 'NOT caught up'})"
        )
        if not DISCONNECTED & set(customer.close_codes):
            conv.failure = f"not disconnected by the server (closes: {customer.close_codes})"
        elif not caught_up:
            conv.failure = "did not catch up after waking"
        try:
            await end_conversation(conv)
        except TimeoutError:
            conv.failure = "end: TimeoutError"
        for peer in stage.peers:
            await peer.stop()
        return await judge(f"slow_consumer/{profile}", load, stage, time.perf_counter() - started)
