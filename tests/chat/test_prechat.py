"""The pre-chat form's fields per service: the pure rule, the admin setting, the widget's
view of it and the server enforcing it (chat/prechat.py, docs/protocol.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from chat.errors import FieldRequired
from chat.models import Chat
from chat.prechat import DEFAULT, FieldRule, PrechatConfigError, PrechatFields
from tests.support import AgentConsole, Customer, LiveDesk
from ticketing.models import Ticket

SUPPORT = 1
DEFAULT_FIELDS = {"name": "required", "email": "optional", "subject": "optional"}
EMAIL_REQUIRED_NO_SUBJECT = {"email": "required", "subject": "hidden"}


# --- the rule, pure --------------------------------------------------------------------


def test_the_default_is_the_form_as_it_always_was() -> None:
    assert PrechatFields.from_dict(None) is DEFAULT
    assert DEFAULT.to_dict() == DEFAULT_FIELDS


def test_missing_keys_keep_their_default() -> None:
    rules = PrechatFields.from_dict({"subject": "hidden"})
    assert rules.to_dict() == {**DEFAULT_FIELDS, "subject": "hidden"}


@pytest.mark.parametrize(
    "data",
    [
        {"name": "hidden"},
        {"message": "optional"},
        {"phone": "required"},
        {"email": "mandatory"},
        {"email": True},
        {"subject": None},
        ["email"],
        "required",
    ],
)
def test_bad_settings_are_refused(data: Any) -> None:
    with pytest.raises(PrechatConfigError):
        PrechatFields.from_dict(data)


def test_apply_drops_hidden_fields_and_names_the_first_missing_required_one() -> None:
    rules = PrechatFields(email=FieldRule.REQUIRED, subject=FieldRule.HIDDEN)
    kept = rules.apply({"name": "Ana", "email": "ana@example.com", "subject": "sneaked in"})
    assert kept == {"name": "Ana", "email": "ana@example.com", "subject": None}
    with pytest.raises(FieldRequired) as refused:
        rules.apply({"name": "Ana", "email": "", "subject": None})
    assert refused.value.code == "field_required" and refused.value.details == {"field": "email"}


def test_leaving_a_message_always_needs_an_email() -> None:
    rules = PrechatFields(name=FieldRule.OPTIONAL, email=FieldRule.HIDDEN).for_leave_message()
    assert rules.email is FieldRule.REQUIRED and rules.name is FieldRule.OPTIONAL
    with pytest.raises(FieldRequired):
        rules.apply({"name": None, "email": None, "subject": None})


# --- the admin setting -----------------------------------------------------------------


def _http(desk: LiveDesk, console: AgentConsole) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=desk.base_url,
        cookies=console.cookies,
        headers={"X-CSRF-Token": console.cookies["chatdesk_csrf"]},
    )


async def _set_fields(desk: LiveDesk, fields: dict[str, str] | None) -> dict[str, Any]:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with _http(desk, admin) as http:
        response = await http.patch(
            f"/api/admin/services/{SUPPORT}", json={"prechat_fields": fields}
        )
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_admin_sets_the_fields_and_the_widget_sees_them(desk: LiveDesk) -> None:
    ana = await desk.customer()
    welcome = ana.frames[0]
    assert welcome["type"] == "welcome"
    assert all(s["prechat_fields"] == DEFAULT_FIELDS for s in welcome["services"])

    saved = await _set_fields(desk, EMAIL_REQUIRED_NO_SUBJECT)
    wanted = {**DEFAULT_FIELDS, **EMAIL_REQUIRED_NO_SUBJECT}
    assert saved["prechat_fields"] == wanted
    # Open widgets learn it from desk_status; new ones from welcome.
    await ana.expect(
        "desk_status",
        lambda f: any(s["id"] == SUPPORT and s["prechat_fields"] == wanted for s in f["services"]),
    )
    bob = await desk.customer()
    support = next(s for s in bob.frames[0]["services"] if s["id"] == SUPPORT)
    assert support["prechat_fields"] == wanted

    reset = await _set_fields(desk, None)
    assert reset["prechat_fields"] == DEFAULT_FIELDS


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"name": "hidden"}, "'name' must be one of: optional, required"),
        ({"message": "optional"}, "the message is always required"),
        ({"email": "sometimes"}, "'email' must be one of: hidden, optional, required"),
        ("required", "must be an object"),
    ],
)
async def test_bad_fields_are_422_with_a_clear_message(
    desk: LiveDesk, fields: Any, words: str
) -> None:
    admin = await desk.agent("Ada", admin=True, online=False)
    async with _http(desk, admin) as http:
        response = await http.patch(
            f"/api/admin/services/{SUPPORT}", json={"prechat_fields": fields}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_setting"
        assert words in response.json()["message"]
        listed = (await http.get("/api/admin/services")).json()["items"]
    assert next(s for s in listed if s["id"] == SUPPORT)["prechat_fields"] == DEFAULT_FIELDS


async def test_an_agent_who_is_not_an_admin_may_not_change_them(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea", online=False)
    async with _http(desk, bea) as http:
        response = await http.patch(
            f"/api/admin/services/{SUPPORT}", json={"prechat_fields": {"email": "required"}}
        )
    assert response.status_code == 403 and response.json()["code"] == "admin_only"
    ana = await desk.customer()
    support = next(s for s in ana.frames[0]["services"] if s["id"] == SUPPORT)
    assert support["prechat_fields"] == DEFAULT_FIELDS


# --- enforced on the server ------------------------------------------------------------


async def _send(customer: Customer, kind: str, **fields: Any) -> None:
    frame = {"type": kind, "service_id": SUPPORT, "message": "My order never came", **fields}
    await customer.send({k: v for k, v in frame.items() if v is not None})


async def _chats(desk: LiveDesk) -> int:
    async with desk.runtime.sessions() as session:
        return int(await session.scalar(select(func.count(Chat.id))) or 0)


async def test_start_chat_without_a_required_email_is_refused(desk: LiveDesk) -> None:
    await _set_fields(desk, EMAIL_REQUIRED_NO_SUBJECT)
    await desk.agent("Bea", services=[SUPPORT])
    ana = await desk.customer()
    await _send(ana, "start_chat", name="Ana")
    error = await ana.expect("error")
    assert error["code"] == "field_required" and error["field"] == "email"
    assert error["ref"] == "start_chat" and error["message"]
    assert await _chats(desk) == 0

    await _send(ana, "start_chat", name="Ana", email="ana@example.com", subject="Sneaked in")
    chat = (await ana.expect("chat"))["chat"]
    # The hidden subject sent anyway is ignored.
    assert chat["subject"] == "" and chat["customer"]["email"] == "ana@example.com"


async def test_an_optional_name_may_be_left_out(desk: LiveDesk) -> None:
    await _set_fields(desk, {"name": "optional"})
    await desk.agent("Bea", services=[SUPPORT])
    ana = await desk.customer()
    await _send(ana, "start_chat")
    chat = (await ana.expect("chat"))["chat"]
    assert chat["state"] == "waiting" and chat["customer"]["name"] == ""
    ana.chat_id = chat["id"]
    assert (await ana.message("My order never came"))["sender"] == "customer"


async def test_the_default_form_still_needs_a_name(desk: LiveDesk) -> None:
    await desk.agent("Bea", services=[SUPPORT])
    ana = await desk.customer()
    await _send(ana, "start_chat", email="ana@example.com")
    error = await ana.expect("error")
    assert error["code"] == "field_required" and error["field"] == "name"
    assert await _chats(desk) == 0


async def test_leave_message_needs_the_required_fields_and_drops_hidden_ones(
    desk: LiveDesk,
) -> None:
    await _set_fields(desk, {"email": "hidden", "subject": "required"})
    ana = await desk.customer()
    # A message left for later is answered by email: required even where the chat hides it.
    await _send(ana, "leave_message", name="Ana", subject="Where is it?")
    error = await ana.expect("error")
    assert (error["code"], error["field"], error["ref"]) == (
        "field_required",
        "email",
        "leave_message",
    )
    await _send(ana, "leave_message", name="Ana", email="ana@example.com")
    error = await ana.expect("error")
    assert (error["code"], error["field"]) == ("field_required", "subject")

    await _set_fields(desk, {"subject": "hidden"})
    await _send(ana, "leave_message", name="Ana", email="ana@example.com", subject="Ignored")
    created = await ana.expect("ticket_created")
    async with desk.runtime.sessions() as session:
        ticket = await session.get(Ticket, created["ticket_id"])
    assert ticket is not None and ticket.subject != "Ignored"
