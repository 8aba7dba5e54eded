"""Who may send which websocket frame about whose chat (docs/security.md).

The websocket twin of tests/test_authorization_matrix.py. One world per test:

* customer A — chatting with agent X (chat A, active), after an earlier chat of
  hers that X ended (its survey is pending);
* customer B — a visitor with no chat; anonymous visitors (no token, a forged
  copy of A's token) and agent X's browser opening the widget (cookies don't
  count there);
* agent X (service X = Support) — holds chat A and chat D, and has chat C offered;
  agent X2 (also Support, not holding anything), agent Y (service Y = Billing),
  an admin.

Every frame type of chat/protocol.py has a row saying what each person gets when
sending it about chat A (widget frames also carry chat A's id, which must be
ignored). A refusal is a typed `error` frame carrying nothing but its code, a
fixed message and the sender's own ref; it changes nothing stored (compared from
the database) and nobody who may not see chat A ever receives a byte of it. A new
frame type without a row fails `test_every_frame_type_has_a_row`, saying which.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chat.models import Chat, ChatMessage
from chat.protocol import CONSOLE_FRAMES, WIDGET_FRAMES
from tests.support import AgentConsole, Customer, LiveDesk, Peer
from tests.ticketing.test_api import agent_http
from ticketing.models import Agent, AgentRole, Survey, Ticket

SUPPORT, BILLING = 1, 3
SECRET_BODY = "A-SECRET order 4242 and my card ends 1881"
SECRET_EMAIL = "ana.secret@example.com"

# An outcome: an error code, or OK + the frame that answers an allowed action
# (None when nothing answers it, e.g. typing). Targets: which chat the frame names.
OK = "ok"
Outcome = str | tuple[str, str | None]

WIDGET_PEOPLE = ("anonymous", "forged_token", "customer_a", "customer_b", "agent_x_cookie")
CONSOLE_PEOPLE = ("agent_x", "agent_x2", "agent_y", "admin")


def ok(answer: str | None) -> tuple[str, str | None]:
    return (OK, answer)


def only_a(answer: str | None, others: str = "no_open_chat") -> dict[str, Outcome]:
    """Only customer A may do this (to her own chat); everybody else gets `others`."""
    return {p: ok(answer) if p == "customer_a" else others for p in WIDGET_PEOPLE}


def everybody(outcome: Outcome, people: tuple[str, ...]) -> dict[str, Outcome]:
    return dict.fromkeys(people, outcome)


# frame (chat ids as {a}, {c}, {d}), outcome per person
WIDGET_ROWS: dict[str, tuple[dict[str, Any], dict[str, Outcome]]] = {
    # A second hello is refused; what the first one reveals is checked separately
    # (test_a_welcome_shows_a_chat_only_to_its_customer).
    "hello": ({"token": None}, everybody("bad_frame", WIDGET_PEOPLE)),
    "start_chat": (
        {"service_id": SUPPORT, "name": "Eve", "message": "hi"},
        {
            **everybody(ok("chat"), WIDGET_PEOPLE),
            "customer_a": "chat_already_open",
        },
    ),
    # Stored: the answer is the line's own echo (docs/protocol.md, "message").
    "message": ({"client_id": "m-1", "body": "injected"}, only_a("message")),
    "typing": ({"is_typing": True}, only_a(None)),
    "fetch": ({"after_seq": 0}, only_a("message")),
    "end_chat": ({}, only_a("ended")),
    "rate": ({"rating": 1, "comment": "bad"}, only_a("rated", others="no_survey")),
    # Anybody may leave a message: it opens their own ticket, never touches chat A.
    "leave_message": (
        {"service_id": SUPPORT, "name": "Eve", "email": "eve@example.com", "message": "hi"},
        everybody(ok("ticket_created"), WIDGET_PEOPLE),
    ),
    # A's chat is still running: no transcript yet, for her either.
    "email_transcript": (
        {"email": "eve@example.com"},
        {**everybody("no_open_chat", WIDGET_PEOPLE), "customer_a": "transcript_unavailable"},
    ),
    # Receipts only for the chat the widget shows: never a way to probe another chat.
    "delivered": ({"seq": 1}, only_a(None)),
    "read": ({"seq": 1}, only_a(None)),
    "ping": ({}, everybody(ok("pong"), WIDGET_PEOPLE)),
}

NOT_HIS = {"agent_x2": "chat_not_found", "agent_y": "chat_not_found"}
NOT_OFFERED = {"agent_x2": "offer_expired", "agent_y": "offer_expired", "admin": "offer_expired"}
# (frame, outcome per person, chat named per person when not chat A)
CONSOLE_ROWS: dict[str, tuple[dict[str, Any], dict[str, Outcome], dict[str, str]]] = {
    "hello": ({"chats": {}}, everybody("bad_frame", CONSOLE_PEOPLE), {}),
    "presence": ({"status": "away"}, everybody(ok("presence"), CONSOLE_PEOPLE), {}),
    # Only the agent a chat is offered to may take or refuse it; admins included.
    "accept": ({"chat_id": "{c}"}, {**NOT_OFFERED, "agent_x": ok("chat")}, {}),
    "decline": ({"chat_id": "{c}"}, {**NOT_OFFERED, "agent_x": ok("offer_withdrawn")}, {}),
    "message": (
        {"chat_id": "{a}", "client_id": "m-1", "body": "hijack"},
        {**NOT_HIS, "agent_x": ok("message"), "admin": ok("message")},
        {},
    ),
    "typing": (
        {"chat_id": "{a}", "is_typing": True},
        {**NOT_HIS, "agent_x": ok(None), "admin": ok(None)},
        {},
    ),
    "fetch": (
        {"chat_id": "{a}", "after_seq": 0},
        {**NOT_HIS, "agent_x": ok("message"), "admin": ok("message")},
        {},
    ),
    # The admin acts on chat D (also X's), so X's own action on chat A still has its chat.
    "end_chat": (
        {"chat_id": "{a}", "status": "resolved"},
        {**NOT_HIS, "agent_x": ok("ended"), "admin": ok("ended")},
        {"admin": "{d}"},
    ),
    "transfer": (
        {"chat_id": "{a}", "service_id": BILLING},
        {**NOT_HIS, "agent_x": ok("chat_removed"), "admin": ok("chat")},
        {"admin": "{d}"},
    ),
    # Receipts only for chats the console follows: admins don't probe with them either.
    "delivered": (
        {"chat_id": "{a}", "seq": 1},
        {**NOT_HIS, "agent_x": ok(None), "admin": "chat_not_found"},
        {},
    ),
    "read": (
        {"chat_id": "{a}", "seq": 1},
        {**NOT_HIS, "agent_x": ok(None), "admin": "chat_not_found"},
        {},
    ),
    "ping": ({}, everybody(ok("pong"), CONSOLE_PEOPLE), {}),
}


def test_every_frame_type_has_a_row() -> None:
    """A frame type added to chat/protocol.py needs a decision here: who may send it."""
    problems = []
    for socket, spec, rows in (
        ("widget", WIDGET_FRAMES, WIDGET_ROWS),
        ("console", CONSOLE_FRAMES, CONSOLE_ROWS),
    ):
        for kind in sorted(set(spec) - set(rows)):
            problems.append(
                f"{socket} frame {kind!r} has no row in {socket.upper()}_ROWS of "
                f"{__name__}: add one saying what each person gets for it"
            )
    for kind, (_, outcomes) in WIDGET_ROWS.items():
        if set(outcomes) != set(WIDGET_PEOPLE):
            problems.append(f"widget row {kind!r} must name exactly {WIDGET_PEOPLE}")
    for kind, (_, outcomes, _) in CONSOLE_ROWS.items():
        if set(outcomes) != set(CONSOLE_PEOPLE):
            problems.append(f"console row {kind!r} must name exactly {CONSOLE_PEOPLE}")
    assert not problems, "\n".join(problems)


# --- the world --------------------------------------------------------------------------


@dataclass
class World:
    desk: LiveDesk
    chats: dict[str, int]  # a, c, d
    widget: dict[str, Customer] = field(default_factory=dict)
    console: dict[str, AgentConsole] = field(default_factory=dict)

    def fill(self, frame: dict[str, Any], target: str | None = None) -> dict[str, Any]:
        """The frame with its chat placeholders replaced by real ids."""
        result = {}
        for key, value in frame.items():
            if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
                value = self.chats[(target or value)[1:-1]]
            result[key] = value
        return result


async def _widget_with_cookies(desk: LiveDesk, console: AgentConsole) -> Customer:
    person = Customer(desk)
    await person.open({"Cookie": "; ".join(f"{k}={v}" for k, v in console.cookies.items())})
    await person.send({"type": "hello", "token": None})
    person.token = (await person.expect("welcome"))["token"]
    return person


async def _chat_with(customer: Customer, agent: AgentConsole, **kwargs: Any) -> int:
    await customer.send({"type": "start_chat", "service_id": SUPPORT, **kwargs})
    chat = (await customer.expect("chat", lambda f: f["chat"]["state"] == "waiting"))["chat"]
    await agent.next_offer(chat["id"])
    await agent.accept(chat["id"])
    await customer.expect("assigned")
    return int(chat["id"])


async def build_world(desk: LiveDesk) -> World:
    x = await desk.agent("Xavier", services=[SUPPORT], capacity=5)
    x2 = await desk.agent("Xena", services=[SUPPORT], online=False)
    y = await desk.agent("Yara", services=[BILLING])
    admin = await desk.agent("Ada", admin=True, online=False)
    a = await desk.customer()
    secret = {"name": "Ana Secret", "email": SECRET_EMAIL, "message": SECRET_BODY}
    earlier = await _chat_with(a, x, **secret)
    await x.end(earlier)
    await a.expect("survey")
    chat_a = await _chat_with(a, x, **secret)
    d = await desk.customer()
    chat_d = await _chat_with(d, x, name="Dan", email="dan@example.com", message="hello")
    c = await desk.customer()
    offered = await c.start_chat(name="Cleo", email="cleo@example.com", message="offer me")
    await x.next_offer(offered["id"])
    forged = a.token[:-4] + ("AAAA" if not a.token.endswith("AAAA") else "BBBB")
    world = World(desk, {"a": chat_a, "c": offered["id"], "d": chat_d})
    world.widget = {
        "anonymous": await desk.customer(),
        "forged_token": await desk.customer(token=forged),
        "customer_a": a,
        "customer_b": await desk.customer(),
        "agent_x_cookie": await _widget_with_cookies(desk, x),
    }
    world.console = {"agent_x": x, "agent_x2": x2, "agent_y": y, "admin": admin}
    return world


async def stored(desk: LiveDesk) -> tuple[object, ...]:
    """Everything a frame could change, read back from the database."""
    async with desk.runtime.sessions() as session:
        chats = (
            await session.execute(
                select(
                    Chat.id,
                    Chat.state,
                    Chat.service_id,
                    Chat.agent_id,
                    Chat.offered_agent_id,
                    Chat.last_seq,
                    Chat.ticket_id,
                    Chat.survey,
                    Chat.ended_by,
                    Chat.declined_agent_ids,
                ).order_by(Chat.id)
            )
        ).all()
        messages = await session.scalar(select(func.count(ChatMessage.id)))
        tickets = (
            await session.execute(select(Ticket.id, Ticket.status).order_by(Ticket.id))
        ).all()
        surveys = (
            await session.execute(select(Survey.ticket_id, Survey.rating).order_by(Survey.id))
        ).all()
    return (
        [tuple(row) for row in chats],
        messages,
        [tuple(r) for r in tickets],
        [tuple(r) for r in surveys],
    )


def assert_bare_error(error: dict[str, Any], sent: dict[str, Any], who: str) -> None:
    """A refusal says what went wrong and nothing about anybody's chat."""
    assert set(error) == {"type", "code", "message", "ref"}, (who, error)
    assert error["ref"] in (sent.get("client_id"), sent["type"]), (who, error)
    text = json.dumps(error)
    for secret in (SECRET_BODY, SECRET_EMAIL, "Ana Secret"):
        assert secret not in text, (who, error)


def assert_never_saw_chat_a(world: World, people: list[Peer], names: list[str]) -> None:
    for name, peer in zip(names, people, strict=True):
        received = json.dumps(peer.frames)
        assert SECRET_BODY not in received, f"{name} received chat A's messages"
        assert SECRET_EMAIL not in received, f"{name} received chat A's customer"


async def run_row(
    world: World,
    peers: dict[str, Peer],
    frame: dict[str, Any],
    outcomes: dict[str, Outcome],
    targets: dict[str, str],
) -> None:
    """Refusals first (each compared with the database), then the allowed actions."""
    order = sorted(outcomes, key=lambda p: isinstance(outcomes[p], tuple))
    for person in order:
        expected = outcomes[person]
        peer = peers[person]
        sent = world.fill(frame, targets.get(person))
        if "client_id" in frame:  # each person's own, so a refusal can't be an idempotent replay
            sent["client_id"] = f"{person}-{uuid.uuid4().hex[:8]}"
        peer.forget()
        if isinstance(expected, str):
            before = await stored(world.desk)
            await peer.send(sent)
            error = await peer.expect("error")
            assert error["code"] == expected, (person, sent, error)
            assert_bare_error(error, sent, person)
            await world.desk.runtime.bus.flush()
            assert await stored(world.desk) == before, f"{person}'s refused {sent} changed state"
            continue
        answer = expected[1]
        await peer.send(sent)
        if answer is not None:
            await peer.expect(answer)
        await peer.send({"type": "ping"})
        await peer.expect("pong")
        assert not peer.seen("error") or all(
            e["ref"] not in (sent["type"], sent.get("client_id")) for e in peer.seen("error")
        ), (person, sent, peer.seen("error"))


@pytest.mark.parametrize("kind", sorted(WIDGET_FRAMES))
async def test_widget_frame(desk: LiveDesk, kind: str) -> None:
    if kind not in WIDGET_ROWS:
        pytest.fail(f"no row for the widget frame {kind!r}: see test_every_frame_type_has_a_row")
    world = await build_world(desk)
    frame, outcomes = WIDGET_ROWS[kind]
    # Widget frames name no chat; a chat id slipped in must change nothing.
    frame = {"type": kind, **frame, "chat_id": "{a}"}
    people = dict(world.widget)
    others = [p for p in WIDGET_PEOPLE if p != "customer_a"]
    await run_row(world, people, frame, outcomes, {})  # type: ignore[arg-type]
    assert_never_saw_chat_a(world, [people[p] for p in others], others)
    assert_never_saw_chat_a(world, [world.console["agent_y"]], ["agent_y"])


@pytest.mark.parametrize("kind", sorted(CONSOLE_FRAMES))
async def test_console_frame(desk: LiveDesk, kind: str) -> None:
    if kind not in CONSOLE_ROWS:
        pytest.fail(f"no row for the console frame {kind!r}: see test_every_frame_type_has_a_row")
    world = await build_world(desk)
    frame, outcomes, targets = CONSOLE_ROWS[kind]
    people = dict(world.console)
    await run_row(world, people, {"type": kind, **frame}, outcomes, targets)  # type: ignore[arg-type]
    outsiders = ["agent_y", "customer_b", "anonymous", "forged_token"]
    peers: list[Peer] = [world.console["agent_y"]] + [world.widget[p] for p in outsiders[1:]]
    if kind != "transfer":  # transferred to Billing, chat A becomes Yara's service's to see
        assert_never_saw_chat_a(world, peers, outsiders)


async def test_frames_of_the_other_socket_are_unknown_there(desk: LiveDesk) -> None:
    """Console frames on the widget and widget frames on the console: `unknown_type`."""
    world = await build_world(desk)
    a, x = world.widget["customer_a"], world.console["agent_x"]
    cases: list[tuple[Peer, str]] = [
        (a, k) for k in sorted(set(CONSOLE_FRAMES) - set(WIDGET_FRAMES))
    ]
    cases += [(x, k) for k in sorted(set(WIDGET_FRAMES) - set(CONSOLE_FRAMES))]
    assert cases, "the two sockets speak different frames"
    before = await stored(desk)
    for peer, kind in cases:
        frame = {"type": kind, "chat_id": world.chats["c"], "service_id": SUPPORT}
        peer.forget()
        await peer.send(frame)
        error = await peer.expect("error")
        assert error["code"] == "unknown_type", (kind, error)
        assert set(error) == {"type", "code", "message", "ref"}
    assert await stored(desk) == before


async def test_a_welcome_shows_a_chat_only_to_its_customer(desk: LiveDesk) -> None:
    """The Rocket.Chat Livechat hole: a fresh or forged visitor asking for history."""
    world = await build_world(desk)
    owner = world.widget["customer_a"]
    back = Customer(desk, owner.token)
    assert (await back.connect())["chat"]["id"] == world.chats["a"]  # her resume works
    await back.message(SECRET_BODY)
    for person, peer in world.widget.items():
        if person == "customer_a":
            continue
        welcome = peer.seen("welcome")[0]
        assert welcome["chat"] is None, person
        assert welcome["customer"]["id"] != owner.seen("welcome")[0]["customer"]["id"]
        # Resuming with a claim to have seen nothing still replays nothing of chat A.
        again = Customer(desk, peer.token)
        again.last_seq = 0
        assert (await again.connect())["chat"] is None
        await again.send({"type": "fetch", "after_seq": 0, "chat_id": world.chats["a"]})
        assert (await again.expect("error"))["code"] == "no_open_chat"
        assert_never_saw_chat_a(world, [peer, again], [person, person + " resumed"])


@pytest.mark.parametrize("who", ["no cookie", "forged cookie", "customer portal cookie"])
async def test_only_agents_open_the_console_socket(desk: LiveDesk, who: str) -> None:
    cookie = {
        "no cookie": "",
        "forged cookie": "chatdesk_session=" + "A" * 43,
        "customer portal cookie": "",
    }[who]
    if who == "customer portal cookie":
        a = await desk.customer()
        async with httpx.AsyncClient(base_url=desk.base_url) as http:
            signed = await http.post("/api/portal/session", json={"token": a.token})
            assert signed.status_code == 200
            cookie = "; ".join(f"{k}={v}" for k, v in signed.cookies.items())
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            desk.ws_url + "/ws/console",
            origin=desk.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie} if cookie else {},
        )
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("change", ["demoted", "deactivated"])
async def test_an_admin_demoted_while_connected_loses_admin_powers_at_once(
    desk: LiveDesk, change: str
) -> None:
    """Regression: the console kept the role it had at connect time, so an admin demoted
    (or deactivated) in the Admin tab could still read and write every chat until they
    reconnected."""
    x = await desk.agent("Xavier", services=[SUPPORT])
    admin = await desk.agent("Ada", admin=True, online=False)
    a = await desk.customer()
    chat_a = await _chat_with(a, x, name="Ana Secret", email=SECRET_EMAIL, message=SECRET_BODY)
    await admin.send({"type": "fetch", "chat_id": chat_a, "after_seq": 0})
    await admin.expect("message")  # an admin may follow any chat
    async with desk.runtime.sessions() as session, session.begin():
        row = await session.get(Agent, admin.agent.id)
        assert row is not None
        if change == "demoted":
            row.role = AgentRole.AGENT
        else:
            row.active = False
    before = await stored(desk)
    admin.forget()
    await admin.send({"type": "message", "chat_id": chat_a, "client_id": "late", "body": "x"})
    error = await admin.expect("error")
    assert error["code"] == "chat_not_found"
    assert_bare_error(error, {"type": "message", "client_id": "late"}, "admin")
    assert admin.ws is not None
    await admin.ws.wait_closed()
    assert admin.ws.close_code == 4401  # reconnecting gives exactly the rights left
    assert await stored(desk) == before


async def test_an_agent_deactivated_in_the_admin_tab_is_signed_out_everywhere_at_once(
    desk: LiveDesk,
) -> None:
    """Regression: deactivating refused new logins only; an open console kept reading
    and writing its chats until the agent closed the tab."""
    x = await desk.agent("Xavier", services=[SUPPORT])
    admin = await desk.agent("Ada", admin=True, online=False)
    a = await desk.customer()
    chat_a = await _chat_with(a, x, name="Ana Secret", email=SECRET_EMAIL, message=SECRET_BODY)
    async with agent_http(desk, admin) as http:
        done = await http.patch(f"/api/admin/agents/{x.agent.id}", json={"active": False})
        assert done.status_code == 200 and done.json()["active"] is False
    assert x.ws is not None
    await x.ws.wait_closed()
    assert x.ws.close_code == 4401
    async with httpx.AsyncClient(base_url=desk.base_url, cookies=x.cookies) as http:
        assert (await http.get("/api/auth/me")).status_code == 401
    with pytest.raises(InvalidStatus):  # and no console opens again with that session
        await connect(
            desk.ws_url + "/ws/console",
            origin=desk.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": "; ".join(f"{k}={v}" for k, v in x.cookies.items())},
        )
    async with desk.runtime.sessions() as session:
        chat = await session.get(Chat, chat_a)
    assert chat is not None and chat.state.value == "active"  # the grace period re-queues it


async def test_an_offered_chat_is_nobodys_to_act_in_until_accepted(desk: LiveDesk) -> None:
    """Chat C is offered to X: neither X (not yet accepted), nor X's colleague, nor an
    agent of another service may write in it, read it, end it or pass it on."""
    world = await build_world(desk)
    c = world.chats["c"]
    frames: list[dict[str, Any]] = [
        {"type": "message", "chat_id": c, "client_id": "early", "body": "hi"},
        {"type": "typing", "chat_id": c, "is_typing": True},
        {"type": "fetch", "chat_id": c, "after_seq": 0},
        {"type": "end_chat", "chat_id": c, "status": "resolved"},
        {"type": "transfer", "chat_id": c, "service_id": BILLING},
    ]
    before = await stored(desk)
    for person in ("agent_x", "agent_x2", "agent_y"):
        peer = world.console[person]
        for frame in frames:
            peer.forget()
            await peer.send(frame)
            error = await peer.expect("error")
            assert error["code"] == "chat_not_found", (person, frame, error)
            assert_bare_error(error, frame, person)
    assert await stored(desk) == before
    x2_and_y = [world.console["agent_x2"], world.console["agent_y"]]
    assert not [f for p in x2_and_y for f in p.frames if f.get("chat_id") == c]
