"""Files in a chat: upload over HTTP, one transcript line per file, download for participants.

A file is a message like any other (docs/protocol.md, "Files in a chat"): the upload
stores the bytes (ticketing/attachments.py: kind decided by content, random names on
disk), then in ONE transaction the `chat_attachments` row and the transcript line that
names it, numbered from `chats.last_seq` exactly as every line is, and publishes the
line on the bus after the commit (DESIGN.md principle 2). A `client_id` makes a
retried upload count once. Downloads never render as a page: images inline, the rest
as attachments, always with `nosniff` and a sandboxing CSP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from chat.errors import ChatClosed, ChatError, ChatNotFound
from chat.http_api import NotLoggedIn, current_agent, runtime_of
from chat.models import Chat, ChatAttachment, ChatMessage
from chat.protocol import MAX_CLIENT_ID_CHARS
from chat.runtime import Runtime
from chat.states import OPEN_STATES
from chat.transcripts import NewMessage, append_messages, message_frame
from ticketing import attachments as files
from ticketing.db import transaction
from ticketing.models import AgentRole

# The widget proves who it is with the signed customer token it got in `welcome`, sent in
# headers (never in a URL, where logs and referrers would keep it). A header a page on
# another origin can't set without a CORS preflight we never answer: no CSRF either.
WIDGET_TOKEN_HEADER = "x-chatdesk-token"
WIDGET_SITE_HEADER = "x-chatdesk-site"
# Form fields besides the file are a client id; anything long is not one of ours.
MAX_FIELD_BYTES = 1024


class FileNotFound(ChatError):
    code = "attachment_not_found"
    message = "There is no such file."
    http_status = 404


class UploadsRateLimited(ChatError):
    code = "rate_limited"
    message = "Too many files in this chat; please wait a minute."
    http_status = 429


class BadUpload(ChatError):
    code = "bad_request"
    message = "Send the file in a multipart field named 'file'."
    http_status = 400


@dataclass(frozen=True)
class Participant:
    """Who is asking: the widget's customer or a console's agent."""

    sender: str  # customer | agent
    id: int
    name: str
    is_admin: bool = False


async def participant(request: Request, *, state_changing: bool) -> Participant:
    runtime = runtime_of(request)
    token = request.headers.get(WIDGET_TOKEN_HEADER)
    if token:
        site = request.headers.get(WIDGET_SITE_HEADER) or runtime.settings.origin
        customer_id = runtime.tokens.verify(token, site)
        if customer_id is None:
            raise NotLoggedIn("This chat identity is not valid here; reload the chat.")
        return Participant("customer", customer_id, "")
    logged_in = await current_agent(request, state_changing=state_changing)
    agent = logged_in.agent
    return Participant("agent", agent.id, agent.name, agent.role is AgentRole.ADMIN)


def may_see(chat: Chat, who: Participant) -> bool:
    """The chat's customer, the agent it is with or offered to, and admins."""
    if who.sender == "customer":
        return chat.customer_id == who.id
    return who.is_admin or who.id in (chat.agent_id, chat.offered_agent_id)


def may_send(chat: Chat, who: Participant) -> bool:
    if who.sender == "customer":
        return chat.customer_id == who.id
    return who.is_admin or chat.agent_id == who.id


async def _read_upload(request: Request, limit: int) -> tuple[bytes, str, str | None]:
    """(bytes, file name, client id) from the multipart body; at most limit + 1 bytes."""
    async with request.form(max_files=1, max_fields=2, max_part_size=MAX_FIELD_BYTES) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadUpload()
        client_id = form.get("client_id")
        if client_id is not None and (
            not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID_CHARS
        ):
            raise BadUpload(f"'client_id' must be text of at most {MAX_CLIENT_ID_CHARS} chars.")
        data = await upload.read(limit + 1)
        return data, upload.filename or "file", client_id or None


def _check_content(data: bytes, limit: int, allowed: tuple[str, ...]) -> None:
    """Too large (413) or not a kind we take (415), decided by the bytes themselves."""
    if len(data) > limit:
        raise files.AttachmentTooLarge(f"A file may be at most {_size_text(limit)}.")
    if not data:
        raise files.AttachmentRefused("The file is empty.")
    if files.sniff(data) not in allowed:
        raise files.AttachmentRefused(
            "This kind of file can't be sent. Images, PDF, ZIP and text files can."
        )


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{max(1, size // 1024)} KB"


async def _stored_line(runtime: Runtime, chat_id: int, sender: str, client_id: str) -> Any:
    """The line an earlier upload with this client id stored, or None."""
    async with runtime.sessions() as session:
        return await session.scalar(
            select(ChatMessage)
            .where(
                ChatMessage.chat_id == chat_id,
                ChatMessage.sender == sender,
                ChatMessage.client_id == client_id,
            )
            .options(selectinload(ChatMessage.attachment))
        )


class _AlreadyStored(Exception):
    """A racing retry stored this client id first: undo ours, answer with theirs."""


def _ack(frame: dict[str, Any]) -> dict[str, Any]:
    return {
        "chat_id": frame["chat_id"],
        "seq": frame["seq"],
        "client_id": frame["client_id"],
        "attachment": frame["attachment"],
    }


async def upload(request: Request) -> Response:
    """Send one file in a chat (multipart `file`, optional `client_id`)."""
    runtime = runtime_of(request)
    who = await participant(request, state_changing=True)
    chat_id: int = request.path_params["chat_id"]
    settings = runtime.settings
    # Who may send here is known before the body is read: a stranger's upload isn't read.
    async with runtime.sessions() as session:
        chat = await session.get(Chat, chat_id)
    if chat is None or not may_send(chat, who):
        raise ChatNotFound()
    data, filename, client_id = await _read_upload(request, settings.max_chat_attachment_bytes)
    if client_id is not None:
        earlier = await _stored_line(runtime, chat_id, who.sender, client_id)
        if earlier is not None:
            return JSONResponse(_ack(message_frame(earlier)), status_code=200)
    if chat.state not in OPEN_STATES:
        raise ChatClosed()
    _check_content(data, settings.max_chat_attachment_bytes, settings.chat_attachment_types)
    if not await runtime.limits.chat_uploads.hit(str(chat_id)):
        raise UploadsRateLimited()
    stored = files.store(data)
    author = chat.customer_name if who.sender == "customer" else who.name
    now = runtime.clock.now()
    try:
        async with transaction(runtime.sessions) as session:
            attachment = ChatAttachment(
                chat_id=chat_id,
                filename=files.safe_filename(filename),
                content_type=stored.content_type,
                size=stored.size,
                storage_key=stored.storage_key,
                uploaded_by=who.sender,
                uploader_id=who.id,
                created_at=now,
            )
            session.add(attachment)
            await session.flush()
            line = NewMessage(
                chat_id,
                who.sender,
                who.id,
                author,
                attachment.filename,
                client_id,
                attachment_id=attachment.id,
            )
            [(row, is_new)] = await append_messages(session, chat_id, [line], now)
            if not is_new:
                raise _AlreadyStored()
            set_committed_value(row, "attachment", attachment)
            frame = message_frame(row)
    except (_AlreadyStored, IntegrityError):
        files.path_of(stored.storage_key).unlink(missing_ok=True)
        earlier = await _stored_line(runtime, chat_id, who.sender, client_id or "")
        if earlier is None:
            raise
        return JSONResponse(_ack(message_frame(earlier)), status_code=200)
    except BaseException:
        files.path_of(stored.storage_key).unlink(missing_ok=True)
        raise
    runtime.bus.publish(f"chat:{chat_id}", frame)
    runtime.receipts.saw(chat_id, frame["seq"])
    return JSONResponse(_ack(frame), status_code=201)


async def download(request: Request) -> Response:
    """The file, for the chat's participants; never a page the browser would run."""
    runtime = runtime_of(request)
    who = await participant(request, state_changing=False)
    async with runtime.sessions() as session:
        attachment = await session.get(ChatAttachment, request.path_params["attachment_id"])
        chat = await session.get(Chat, request.path_params["chat_id"])
    if (
        attachment is None
        or chat is None
        or attachment.chat_id != chat.id
        or not may_see(chat, who)
    ):
        raise FileNotFound()
    path = files.path_of(attachment.storage_key)
    if not path.is_file():
        raise FileNotFound()
    inline = attachment.content_type in files.INLINE_TYPES
    response = FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.filename,
        content_disposition_type="inline" if inline else "attachment",
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


routes = [
    Route("/api/chats/{chat_id:id}/attachments", upload, methods=["POST"]),
    Route("/api/chats/{chat_id:id}/attachments/{attachment_id:id}", download),
]
