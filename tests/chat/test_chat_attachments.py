"""Files in a chat: sent over HTTP, delivered as transcript lines, kept on the ticket.

Each test runs on SQLite + memory bus and on PostgreSQL + Redis (the `desk` fixture).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from chat.models import ChatAttachment, ChatMessage
from tests.conftest import Backend
from tests.support import AgentConsole, Customer, LiveDesk, start_desk
from ticketing.models import Attachment, Ticket, TicketMessage

# A real 1×1 PNG: what a phone screenshot looks like to the sniffer.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(range(256))


async def active_chat(desk: LiveDesk) -> tuple[Customer, AgentConsole, int]:
    """Ana chatting with Bea."""
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    chat = await bea.take(ana)
    await ana.expect("assigned")
    return ana, bea, chat["id"]


async def test_a_customer_sends_an_image_and_both_sides_get_it(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    client_id = uuid.uuid4().hex
    sent = await ana.send_file(PNG, "screenshot.png", client_id)
    assert sent.status_code == 201, sent.text
    ack = sent.json()
    assert ack["client_id"] == client_id and ack["chat_id"] == chat_id
    attachment = ack["attachment"]
    assert attachment["filename"] == "screenshot.png"
    assert attachment["content_type"] == "image/png"
    assert attachment["size"] == len(PNG)
    assert attachment["url"] == f"/api/chats/{chat_id}/attachments/{attachment['id']}"

    for side in (ana, bea):
        frame = await side.expect("message", lambda f: f["client_id"] == client_id)
        assert frame["seq"] == ack["seq"]
        assert frame["sender"] == "customer" and frame["author_name"] == "Ana"
        assert frame["body"] == "screenshot.png"
        assert frame["attachment"] == attachment

    async with ana.http() as http:
        mine = await http.get(attachment["url"])
    assert mine.status_code == 200 and mine.content == PNG
    assert mine.headers["content-type"] == "image/png"
    assert mine.headers["content-disposition"].startswith("inline")
    assert mine.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in mine.headers["content-security-policy"]
    async with bea.http() as http:
        theirs = await http.get(attachment["url"])
    assert theirs.status_code == 200 and theirs.content == PNG


async def test_an_agent_sends_a_pdf_back_as_a_download(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    sent = await bea.send_file(chat_id, PDF, "invoice 7.pdf")
    assert sent.status_code == 201, sent.text
    frame = await ana.expect("message", lambda f: f["sender"] == "agent")
    assert frame["author_name"] == "Bea"
    assert frame["attachment"]["content_type"] == "application/pdf"
    async with ana.http() as http:
        got = await http.get(frame["attachment"]["url"])
    assert got.status_code == 200 and got.content == PDF
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment") and "invoice" in disposition
    assert got.headers["x-content-type-options"] == "nosniff"


async def test_text_is_never_served_inline(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    sent = await ana.send_file(b"order 7, twice charged\n", "notes.html")
    assert sent.status_code == 201, sent.text
    attachment = sent.json()["attachment"]
    assert attachment["content_type"] == "text/plain"  # by content, whatever the name says
    async with bea.http() as http:
        got = await http.get(attachment["url"])
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("content", "name"),
    [(SVG, "logo.svg"), (HTML, "page.html"), (SVG, "innocent.png"), (EXE, "setup.pdf")],
)
async def test_markup_and_programs_are_refused_by_content(
    desk: LiveDesk, content: bytes, name: str
) -> None:
    ana, bea, chat_id = await active_chat(desk)
    refused = await ana.send_file(content, name)
    assert refused.status_code == 415
    assert refused.json()["code"] == "attachment_refused"
    assert "Images, PDF" in refused.json()["message"]
    by_agent = await bea.send_file(chat_id, content, name)
    assert by_agent.status_code == 415
    async with desk.runtime.sessions() as session:
        assert await session.scalar(select(func.count(ChatAttachment.id))) == 0
        lines = await session.scalar(
            select(func.count(ChatMessage.id)).where(ChatMessage.attachment_id.is_not(None))
        )
    assert lines == 0


async def test_only_the_chats_participants_may_download(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    sent = await ana.send_file(PNG, "card.png")
    url = sent.json()["attachment"]["url"]
    other = await desk.customer()
    async with other.http() as http:
        assert (await http.get(url)).status_code == 404
        # Nor may they send a file into somebody else's chat.
        intruding = await http.post(
            f"/api/chats/{chat_id}/attachments", files={"file": ("x.png", PNG)}
        )
        assert intruding.status_code == 404
    stranger = await desk.agent("Cid", online=False)
    async with stranger.http() as http:
        assert (await http.get(url)).status_code == 404
        assert (await http.post(url.rsplit("/", 1)[0], files={"file": PNG})).status_code == 404
    async with httpx.AsyncClient(base_url=desk.base_url) as anonymous:
        assert (await anonymous.get(url)).status_code == 401
        assert (await anonymous.post(url.rsplit("/", 1)[0], files={"file": PNG})).status_code == 401
    async with httpx.AsyncClient(
        base_url=desk.base_url, headers={"X-Chatdesk-Token": "forged.token"}
    ) as forged:
        assert (await forged.get(url)).status_code == 401
    admin = await desk.agent("Ada", admin=True, online=False)
    async with admin.http() as http:
        assert (await http.get(url)).status_code == 200
    # The console's upload needs its CSRF header, like every state-changing call.
    async with httpx.AsyncClient(base_url=desk.base_url, cookies=bea.cookies) as no_csrf:
        refused = await no_csrf.post(url.rsplit("/", 1)[0], files={"file": ("x.png", PNG)})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"


async def test_a_retried_upload_counts_once(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    client_id = uuid.uuid4().hex
    first = await ana.send_file(PNG, "a.png", client_id)
    again = await ana.send_file(PNG, "a.png", client_id)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    await bea.expect("message", lambda f: f["client_id"] == client_id)
    await bea.expect_nothing("message", 0.3, lambda f: f["client_id"] == client_id)
    async with desk.runtime.sessions() as session:
        assert await session.scalar(select(func.count(ChatAttachment.id))) == 1
        count = await session.scalar(
            select(func.count(ChatMessage.id)).where(ChatMessage.client_id == client_id)
        )
    assert count == 1


async def test_files_are_in_the_replay_after_a_reconnect(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    sent = await ana.send_file(PDF, "contract.pdf")
    await ana.close()
    again = Customer(desk, ana.token)
    await again.connect()
    frame = await again.expect("message", lambda f: f["seq"] == sent.json()["seq"])
    assert frame["attachment"] == sent.json()["attachment"]
    text = await again.expect("message", lambda f: f["seq"] == 1)
    assert text["attachment"] is None  # plain lines say so explicitly


async def test_no_files_after_the_chat_ended(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    await bea.end(chat_id)
    late = await ana.send_file(PNG, "late.png")
    assert late.status_code == 409 and late.json()["code"] == "chat_closed"


async def test_the_files_become_the_tickets_attachments(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    image = (await ana.send_file(PNG, "broken-screen.png")).json()
    pdf = (await bea.send_file(chat_id, PDF, "label.pdf")).json()
    await bea.end(chat_id)
    async with desk.runtime.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.chat_id == chat_id))
        assert ticket is not None
        rows = (
            await session.execute(
                select(Attachment, TicketMessage)
                .join(TicketMessage, TicketMessage.id == Attachment.message_id)
                .where(Attachment.ticket_id == ticket.id)
                .order_by(Attachment.id)
            )
        ).all()
    kept = [(a.filename, a.content_type, a.size, m.body, m.author_type.value) for a, m in rows]
    assert kept == [
        ("broken-screen.png", "image/png", len(PNG), "broken-screen.png", "customer"),
        ("label.pdf", "application/pdf", len(PDF), "label.pdf", "agent"),
    ]
    async with bea.http() as http:
        ticket_file = await http.get(f"/api/attachments/{rows[0][0].id}")
    assert ticket_file.status_code == 200 and ticket_file.content == PNG
    assert image["attachment"]["id"] != pdf["attachment"]["id"]


async def test_a_plain_upload_with_no_file_field_is_a_clear_400(desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(desk)
    async with ana.http() as http:
        missing = await http.post(f"/api/chats/{chat_id}/attachments", data={"x": "y"})
    assert missing.status_code == 400 and "file" in missing.json()["message"]


@pytest.fixture
async def strict_desk(backend: Backend, bus_prefix: str) -> AsyncIterator[LiveDesk]:
    """Small files only, and few of them."""
    async with start_desk(
        backend.database_url,
        backend.redis_url,
        bus_prefix,
        max_chat_attachment_bytes=2048,
        rate_chat_uploads_per_minute=3,
    ) as live:
        yield live


async def test_an_oversized_file_gets_413_and_nothing_is_stored(strict_desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(strict_desk)
    too_big = await ana.send_file(PDF + b"0" * 4096, "big.pdf")
    assert too_big.status_code == 413
    assert too_big.json() == {
        "code": "attachment_too_large",
        "message": "A file may be at most 2 KB.",
    }
    async with strict_desk.runtime.sessions() as session:
        assert await session.scalar(select(func.count(ChatAttachment.id))) == 0


async def test_uploads_are_rate_limited_per_chat(strict_desk: LiveDesk) -> None:
    ana, bea, chat_id = await active_chat(strict_desk)
    codes = [(await ana.send_file(PNG, f"{n}.png")).status_code for n in range(2)]
    codes += [(await bea.send_file(chat_id, PNG, f"b{n}.png")).status_code for n in range(2)]
    assert codes == [201, 201, 201, 429]
