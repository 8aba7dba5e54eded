"""10,000+ malformed frames against a running server: it stays up, answers each with a
typed error, stores nothing, and its memory does not grow (cf. CVE-2020-10101, where a
single non-JSON frame crashed Zammad's chat server)."""

from __future__ import annotations

import json
import random
import resource
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from chat.models import Chat, ChatMessage
from chat.protocol import CONSOLE_FRAMES, WIDGET_FRAMES
from tests.conftest import Backend
from tests.support import LiveDesk, start_desk

FRAMES = 10_500
ERROR_CODES = {
    "too_many_chats",
    "rate_limited",
    "bad_json",
    "bad_frame",
    "unknown_type",
    "frame_too_large",
    "message_too_long",
    "invalid_rating",
    "no_open_chat",
    "chat_not_found",
    "offer_expired",
    "survey_already_answered",
    "no_survey",
    "service_not_found",
    "desk_unavailable",
}


def malformed(rng: random.Random) -> str | bytes:
    """One frame from a wide family of broken inputs."""
    kind = rng.randrange(14)
    # Every type but ping, whose bare frame is valid (and answered with pong).
    types = [t for t in (*WIDGET_FRAMES, *CONSOLE_FRAMES) if t != "ping"] + ["", "x" * 300]
    if kind == 0:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 40)))
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if kind == 2:
        return "[" * rng.randrange(1, 5000)
    if kind == 3:
        return json.dumps(rng.choice([None, 1, 1.5, "text", [], [1, {"a": 2}], True]))
    if kind == 4:
        return json.dumps({"type": rng.choice(types)})
    if kind == 5:  # valid type, fields of wrong kinds
        frame: dict[str, object] = {"type": rng.choice(types)}
        for name in (
            "chat_id",
            "client_id",
            "body",
            "service_id",
            "rating",
            "after_seq",
            "is_typing",
            "status",
            "name",
            "email",
            "message",
            "token",
            "seq",
        ):
            if rng.random() < 0.5:
                frame[name] = rng.choice(
                    [None, -1, 2**64, 1e308, "", "x" * 10, [], {}, {"$gt": ""}, True, "1"]
                )
        return json.dumps(frame)
    if kind == 6:
        return '{"type": "message", "client_id": "x", "body": "' + "a" * 70_000 + '"}'
    if kind == 7:
        return '{"type": "rate", "rating": NaN}'
    if kind == 8:
        return '{"type": "fetch", "after_seq": 99999999999999999999999999}'
    if kind == 9:
        return '{"type": "message", "client_id": "\\ud800", "body": "\\udfff"}'
    if kind == 10:
        return "\x00" * rng.randrange(1, 100)
    if kind == 11:
        return '{"type": "start_chat", "service_id": 999, "name": "A", "message": "m"}'
    if kind == 12:
        return '{"type":"typing","is_typing":1}'
    return json.dumps({"type": "message", "client_id": rng.random(), "body": ["a"]})


@pytest.fixture
async def open_desk(backend: Backend, bus_prefix: str) -> AsyncIterator[LiveDesk]:
    async with start_desk(
        backend.database_url,
        backend.redis_url,
        bus_prefix,
        rate_messages_per_second=1_000_000,
        rate_burst=1_000_000,
    ) as live:
        yield live


async def test_ten_thousand_malformed_frames_each_get_a_typed_error(open_desk: LiveDesk) -> None:
    desk = open_desk
    ana = await desk.customer()
    rng = random.Random(20261123)
    async with desk.runtime.sessions() as session:
        before = (
            await session.scalar(select(func.count(Chat.id))),
            await session.scalar(select(func.count(ChatMessage.id))),
        )
    rss_before = None
    codes: dict[str, int] = {}
    for n in range(FRAMES):
        frame = malformed(rng)
        await ana.send(frame)
        try:
            error = await ana.expect("error", timeout=5)
        except TimeoutError:
            raise AssertionError(f"no error frame for {frame[:200]!r}") from None
        assert error["code"] in ERROR_CODES, error
        assert isinstance(error["message"], str) and error["message"]
        codes[error["code"]] = codes.get(error["code"], 0) + 1
        if n == 1000:  # after warm-up: caches and buffers have their size
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert rss_before is not None and rss_after - rss_before < 50 * 1024  # KB: no leak
    assert {"bad_json", "bad_frame", "unknown_type", "frame_too_large"} <= codes.keys()
    # Still a working connection, and nothing was stored by any of it.
    await ana.send({"type": "ping"})
    await ana.expect("pong")
    async with desk.runtime.sessions() as session:
        after = (
            await session.scalar(select(func.count(Chat.id))),
            await session.scalar(select(func.count(ChatMessage.id))),
        )
    assert after == before
    client = next(iter(desk.runtime.hub.widgets))
    assert client._queue.qsize() < 100
