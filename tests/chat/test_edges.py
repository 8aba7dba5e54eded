"""Bad input never hurts: every bad frame gets an error frame and nothing stored changes."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chat.models import Chat, ChatMessage
from tests.support import LiveDesk


async def _counts(desk: LiveDesk) -> tuple[int, int]:
    async with desk.runtime.sessions() as session:
        chats = await session.scalar(select(func.count(Chat.id)))
        messages = await session.scalar(select(func.count(ChatMessage.id)))
    return chats or 0, messages or 0


BAD_FRAMES: list[tuple[str | bytes, str]] = [
    ("not json", "bad_json"),
    (b"\x00\x01binary", "bad_frame"),
    ("[1, 2, 3]", "bad_frame"),
    ('"just a string"', "bad_frame"),
    ("{}", "unknown_type"),
    ('{"type": "launch_missiles"}', "unknown_type"),
    ('{"type": "message", "client_id": "x", "body": 12}', "bad_frame"),
    ('{"type": "message", "client_id": {"a": 1}, "body": "hi"}', "bad_frame"),
    ('{"type": "message", "client_id": "x", "body": "' + "a" * 6000 + '"}', "message_too_long"),
    ('{"type": "start_chat", "service_id": true, "name": "A", "message": "m"}', "bad_frame"),
    ('{"type": "start_chat", "service_id": 1e400, "name": "A", "message": "m"}', "bad_frame"),
    ('{"type": "start_chat", "service_id": NaN, "name": "A", "message": "m"}', "bad_json"),
    ('{"type": "rate", "rating": 9}', "invalid_rating"),
    ('{"type": "typing", "is_typing": "yes"}', "bad_frame"),
    ("[" * 50_000 + "]" * 50_000, "frame_too_large"),
    ('{"type": "message", "client_id": "x", "body": "' + "€" * 30_000 + '"}', "frame_too_large"),
]


async def test_bad_frames_get_error_frames_and_change_nothing(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    await bea.take(ana)
    before = await _counts(desk)
    for raw, code in BAD_FRAMES:
        await ana.send(raw)  # type: ignore[arg-type]
        error = await ana.expect("error")
        assert error["code"] == code, (raw[:60], error)
        assert error["message"]
    assert await _counts(desk) == before
    await ana.say("still here")  # the connection survived every one of them
    await bea.expect("message", lambda f: f["body"] == "still here")


async def test_the_console_rejects_bad_frames_the_same_way(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    for raw, code in [
        ('{"type": "accept", "chat_id": "1"}', "bad_frame"),
        ('{"type": "end_chat", "chat_id": 1, "status": "closed"}', "bad_frame"),
        ('{"type": "presence", "status": "dancing"}', "bad_frame"),
        ('{"type": "accept", "chat_id": 99}', "offer_expired"),
        ('{"type": "message", "chat_id": 99, "client_id": "x", "body": "hi"}', "chat_not_found"),
    ]:
        await bea.send(raw)
        error = await bea.expect("error")
        assert error["code"] == code, (raw, error)


async def test_the_first_frame_must_be_hello(desk: LiveDesk) -> None:
    async with connect(desk.ws_url + "/ws/widget", origin=desk.origin) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "start_chat"}))
        error = json.loads(await ws.recv())
        assert error["code"] == "not_hello_first"
        await ws.wait_closed()
        assert ws.close_code == 1008


@pytest.mark.parametrize(
    "origin",
    ["https://evil.test", "null", "http://127.0.0.1.evil.test", "http://127.0.0.1:1"],
)
async def test_websockets_from_foreign_origins_are_refused_before_the_upgrade(
    desk: LiveDesk, origin: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(desk.ws_url + "/ws/widget", origin=origin)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


async def test_the_console_socket_needs_a_session(desk: LiveDesk) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(desk.ws_url + "/ws/console", origin=desk.origin)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


async def test_a_token_from_another_customer_cannot_be_forged(desk: LiveDesk) -> None:
    await desk.agent("Bea")
    ana = await desk.customer()
    await ana.start_chat(message="my secret order number is 42")
    forged = ana.token[:-4] + ("AAAA" if not ana.token.endswith("AAAA") else "BBBB")
    eve = await desk.customer(token=forged)
    welcome = eve.seen("welcome")[0]
    assert welcome["chat"] is None
    assert welcome["customer"]["id"] != ana.seen("welcome")[0]["customer"]["id"]
    await eve.send({"type": "fetch", "after_seq": 0})
    assert (await eve.expect("error"))["code"] == "no_open_chat"
    await eve.expect_nothing("message")


async def test_an_agent_cannot_touch_a_chat_that_is_not_theirs(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    carl = await desk.agent("Carl")
    for frame in [
        {"type": "message", "chat_id": chat["id"], "client_id": "x", "body": "hijack"},
        {"type": "fetch", "chat_id": chat["id"], "after_seq": 0},
        {"type": "end_chat", "chat_id": chat["id"], "status": "resolved"},
        {"type": "accept", "chat_id": chat["id"]},
    ]:
        await carl.send(frame)
        assert (await carl.expect("error"))["code"] in ("chat_not_found", "offer_expired")
    await carl.expect_nothing("message")


async def test_login_errors_are_clear_and_apis_need_a_session(desk: LiveDesk) -> None:
    async with httpx.AsyncClient(base_url=desk.base_url) as http:
        wrong = await http.post("/api/auth/login", json={"email": "x@y.z", "password": "nope"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "bad_login"
        garbage = await http.post("/api/auth/login", content=b"{not json")
        assert garbage.status_code == 400 and garbage.json()["code"] == "bad_json"
        anonymous = await http.get("/api/tickets")
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "not_logged_in"


async def test_logout_needs_the_csrf_token_and_closes_the_console(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    async with httpx.AsyncClient(base_url=desk.base_url, cookies=bea.cookies) as http:
        forged = await http.post("/api/auth/logout")
        assert forged.status_code == 403 and forged.json()["code"] == "csrf_failed"
        done = await http.post(
            "/api/auth/logout", headers={"X-CSRF-Token": bea.cookies["chatdesk_csrf"]}
        )
        assert done.status_code == 204
        assert (await http.get("/api/auth/me")).status_code == 401
    assert bea.ws is not None
    await bea.ws.wait_closed()
    assert bea.ws.close_code == 4401
