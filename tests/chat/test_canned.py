"""Canned responses: who sees and keeps which, what a valid one is, how it is filled in."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chat.canned import PLACEHOLDERS, fill, placeholder_values
from chat.models import AuditEntry
from tests.support import AgentConsole, LiveDesk

SUPPORT, BILLING = 1, 3


def _http(desk: LiveDesk, console: AgentConsole, *, csrf: bool = True) -> httpx.AsyncClient:
    headers = {"X-CSRF-Token": console.cookies["chatdesk_csrf"]} if csrf else {}
    return httpx.AsyncClient(base_url=desk.base_url, cookies=console.cookies, headers=headers)


async def _add(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"shortcut": "thanks", "title": "Thanks", "body": "Thank you!"} | fields
    created = await http.post("/api/canned", json=body)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def _shortcuts(http: httpx.AsyncClient, chat_id: int | None = None) -> list[str]:
    query = f"?chat_id={chat_id}" if chat_id is not None else ""
    listed = await http.get(f"/api/canned{query}")
    assert listed.status_code == 200, listed.text
    return [item["shortcut"] for item in listed.json()["items"]]


# ---------------------------------------------------------------- pure rules


def test_placeholders_are_filled_and_other_braces_are_left_alone() -> None:
    values = placeholder_values("Ana Souza", "ana@example.com", "Bea Lima", "Billing")
    body = "Hi {customer_first_name}, {agent_first_name} of {service_name} here. {not_ours} {}"
    assert fill(body, values) == "Hi Ana, Bea of Billing here. {not_ours} {}"
    assert fill("{customer_name} <{customer_email}>", values) == "Ana Souza <ana@example.com>"
    assert set(values) == set(PLACEHOLDERS)


def test_an_unnamed_customer_fills_in_as_nothing_not_as_braces() -> None:
    values = placeholder_values("", None, "Bea", "Support")
    assert fill("Hi {customer_name}{customer_email}!", values) == "Hi !"


# ---------------------------------------------------------------- permissions


async def test_agents_keep_their_own_and_admins_the_shared_ones(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea", services=[SUPPORT], online=False)
    cid = await desk.agent("Cid", services=[SUPPORT], online=False)
    async with _http(desk, admin) as ada_http, _http(desk, bea) as bea_http:
        async with _http(desk, cid) as cid_http:
            shared = await _add(ada_http, shortcut="refund", shared=True, title="Refunds")
            mine = await _add(bea_http, shortcut="hello", body="Hello {customer_name}")
            assert shared["shared"] and shared["can_edit"]
            assert not mine["shared"] and mine["can_edit"]

            # Bea may not add, change or delete shared ones…
            refused = await bea_http.post(
                "/api/canned",
                json={"shortcut": "x", "title": "X", "body": "x", "shared": True},
            )
            assert refused.status_code == 403 and refused.json()["code"] == "admin_only"
            changed = await bea_http.patch(f"/api/canned/{shared['id']}", json={"title": "Mine"})
            assert changed.status_code == 403 and changed.json()["code"] == "admin_only"
            gone = await bea_http.delete(f"/api/canned/{shared['id']}")
            assert gone.status_code == 403
            # …and Cid (nor an admin) can't even see Bea's personal one.
            for other in (cid_http, ada_http):
                assert (
                    await other.patch(f"/api/canned/{mine['id']}", json={"title": "Z"})
                ).status_code == 404
                assert (await other.delete(f"/api/canned/{mine['id']}")).status_code == 404
                assert "hello" not in await _shortcuts(other)
            assert await _shortcuts(bea_http) == ["hello", "refund"]
            listed = (await cid_http.get("/api/canned")).json()["items"]
            assert [(i["shortcut"], i["can_edit"]) for i in listed] == [("refund", False)]

            # Owners change and delete their own.
            renamed = await bea_http.patch(
                f"/api/canned/{mine['id']}", json={"shortcut": "/hi", "title": "Hi"}
            )
            assert renamed.status_code == 200 and renamed.json()["shortcut"] == "hi"
            assert (await bea_http.delete(f"/api/canned/{mine['id']}")).status_code == 204
            assert (await bea_http.delete(f"/api/canned/{mine['id']}")).status_code == 404
            edited = await ada_http.patch(f"/api/canned/{shared['id']}", json={"body": "Sure."})
            assert edited.status_code == 200 and edited.json()["body"] == "Sure."


async def test_responses_for_one_service_are_hidden_from_other_services(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    support = await desk.agent("Bea", services=[SUPPORT], online=False)
    billing = await desk.agent("Bill", services=[BILLING], online=False)
    async with _http(desk, admin) as ada_http:
        await _add(ada_http, shortcut="invoice", shared=True, service_id=BILLING)
        await _add(ada_http, shortcut="reset", shared=True, service_id=SUPPORT)
        await _add(ada_http, shortcut="welcome", shared=True)
        assert await _shortcuts(ada_http) == ["invoice", "reset", "welcome"]
    async with _http(desk, support) as http:
        assert await _shortcuts(http) == ["reset", "welcome"]
    async with _http(desk, billing) as http:
        assert await _shortcuts(http) == ["invoice", "welcome"]


async def test_state_changes_need_the_csrf_header_and_a_login(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", online=False)
    body = {"shortcut": "x", "title": "X", "body": "x"}
    async with _http(desk, bea, csrf=False) as http:
        refused = await http.post("/api/canned", json=body)
        assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    async with httpx.AsyncClient(base_url=desk.base_url) as anonymous:
        assert (await anonymous.get("/api/canned")).status_code == 401
        assert (await anonymous.post("/api/canned", json=body)).status_code == 401


async def test_changes_to_shared_responses_are_audited_personal_ones_are_not(
    desk: LiveDesk,
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea", online=False)
    async with _http(desk, admin) as ada_http, _http(desk, bea) as bea_http:
        shared = await _add(ada_http, shortcut="refund", shared=True)
        await ada_http.patch(f"/api/canned/{shared['id']}", json={"title": "Refund policy"})
        await ada_http.delete(f"/api/canned/{shared['id']}")
        await _add(bea_http, shortcut="mine")
    async with desk.runtime.sessions() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.target.like("canned_response:%"))
                .order_by(AuditEntry.id)
            )
        )
    assert [r.target for r in rows] == [f"canned_response:{shared['id']}"] * 3
    assert [sorted(r.details or {}) for r in rows] == [
        ["created", "service_id", "shortcut"],
        ["fields", "service_id", "shortcut"],
        ["deleted", "service_id", "shortcut"],
    ]
    assert {r.actor_id for r in rows} == {admin.agent.id}


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"shortcut": "Refund"}, "lowercase"),
        ({"shortcut": "a b"}, "lowercase"),
        ({"shortcut": "x" * 41}, "1 to 40"),
        ({"shortcut": ""}, "1 to 40"),
        ({"title": "   "}, "title"),
        ({"title": "t" * 121}, "120"),
        ({"body": "  \n "}, "can't be empty"),
        ({"body": "b" * 5001}, "5000"),
        ({"body": 12}, "can't be empty"),
        ({"body": "Hi {customer_nme}"}, "{customer_nme}"),
        ({"body": "nul \x00 byte"}, "not valid text"),
        ({"title": "half \ud800 pair"}, "not valid text"),
        ({"service_id": 999}, "no such service"),
        ({"service_id": "1"}, "service"),
        ({"shared": "yes"}, "true or false"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_invalid_responses_are_refused_with_a_reason(
    desk: LiveDesk, fields: dict[str, Any], words: str
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    body = {"shortcut": "ok", "title": "OK", "body": "Fine."} | fields
    async with _http(desk, admin) as http:
        # json.dumps escapes a lone surrogate as \ud800, as a browser's JSON.stringify does.
        refused = await http.post(
            "/api/canned", content=json.dumps(body), headers={"content-type": "application/json"}
        )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_canned_response"
    assert words in refused.json()["message"]


async def test_a_shortcut_is_used_once_per_owner(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea", online=False)
    async with _http(desk, admin) as ada_http, _http(desk, bea) as bea_http:
        await _add(bea_http, shortcut="thanks")
        twin = await bea_http.post(
            "/api/canned", json={"shortcut": "thanks", "title": "T", "body": "t"}
        )
        assert twin.status_code == 409 and twin.json()["code"] == "shortcut_taken"
        # Another owner (here: the shared list) may use the same shortcut.
        await _add(ada_http, shortcut="thanks", shared=True)
        other = await _add(bea_http, shortcut="bye")
        clash = await bea_http.patch(f"/api/canned/{other['id']}", json={"shortcut": "thanks"})
        assert clash.status_code == 409
        bad = await bea_http.patch(f"/api/canned/{other['id']}", json={"shared": True})
        assert bad.status_code == 422


# ---------------------------------------------------------------- in a chat


async def test_in_a_chat_the_list_fits_its_service_and_is_filled_in(desk: LiveDesk) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    bea = await desk.agent("Bea Lima", services=[SUPPORT])
    ana = await desk.customer()
    chat = await bea.take(ana, service_id=SUPPORT, name="Ana Souza")
    async with _http(desk, admin) as ada_http, _http(desk, bea) as http:
        await _add(ada_http, shortcut="refund", shared=True, service_id=BILLING)
        await _add(
            ada_http,
            shortcut="greet",
            shared=True,
            body="Hi {customer_first_name}, {agent_name} from {service_name} here.",
        )
        await _add(http, shortcut="mine", body="Dear {customer_name} <{customer_email}>")
        listed = await http.get(f"/api/canned?chat_id={chat['id']}")
        assert listed.status_code == 200
        texts = {i["shortcut"]: i["text"] for i in listed.json()["items"]}
        assert texts == {
            "greet": "Hi Ana, Bea Lima from Support here.",
            "mine": "Dear Ana Souza <ana@example.com>",
        }
        # The text is what gets sent: the customer reads it as written, no markup involved.
        await bea.say(chat["id"], texts["greet"])
        assert (await ana.message(texts["greet"]))["sender"] == "agent"


async def test_the_chat_filter_refuses_chats_the_agent_may_not_see(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", services=[SUPPORT])
    bill = await desk.agent("Bill", services=[BILLING], online=False)
    ana = await desk.customer()
    chat = await ana.start_chat(service_id=SUPPORT)
    await bea.next_offer(chat["id"])
    async with _http(desk, bill) as http:
        refused = await http.get(f"/api/canned?chat_id={chat['id']}")
        assert refused.status_code == 404 and refused.json()["code"] == "chat_not_found"
        bad = await http.get("/api/canned?chat_id=abc")
        assert bad.status_code == 422
