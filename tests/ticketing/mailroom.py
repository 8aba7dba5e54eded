"""Real servers for the email and webhook tests: an SMTP mailbox and an HTTP receiver.

`Mailbox` is an aiosmtpd server on a free loopback port that keeps what it is sent
(and can refuse the first few messages, like a relay having a bad minute).
`Receiver` is a small Starlette app under uvicorn that checks each webhook's
signature the way docs/integrations.md tells receivers to.
"""

from __future__ import annotations

import asyncio
import email
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support import free_port
from ticketing.mail_out import MailSettings, attach
from ticketing.webhooks import SIGNATURE_HEADER, verify_signature

DESK_URL = "https://desk.example.com"
SECRET = "test-secret-for-mail"


def mail_settings(smtp_port: int | None = None, **overrides: Any) -> MailSettings:
    values: dict[str, Any] = {
        "public_url": DESK_URL,
        "secret_key": SECRET,
        "domain": "desk.example.com",
        "sender": "Example Support <support@desk.example.com>",
        "smtp_host": "127.0.0.1" if smtp_port else "",
        "smtp_port": smtp_port or 0,
        "smtp_tls": "off",
        "smtp_timeout": 5.0,
    }
    return MailSettings(**(values | overrides))


def with_mail(
    sessions: async_sessionmaker[AsyncSession], mail: MailSettings
) -> async_sessionmaker[AsyncSession]:
    attach(sessions, mail)
    return sessions


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Mailbox:
    """What a real SMTP server received; `refuse` answers the next messages with an error."""

    port: int = 0
    received: list[Delivered] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(Delivered(envelope.mail_from or "", list(envelope.rcpt_tos), message))
        self.arrived.set()
        return "250 2.0.0 Queued"

    def to(self, address: str) -> list[EmailMessage]:
        """What `address` got, oldest first (sent concurrently, they may arrive out of order)."""
        mine = [d.message for d in self.received if address in d.rcpt_tos]
        return sorted(mine, key=lambda m: parsedate_to_datetime(str(m["Date"])))

    def message_ids(self) -> list[str]:
        return [str(d.message["Message-ID"]) for d in self.received]


@asynccontextmanager
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(box, hostname="mailbox.test", ident="test mailbox", loop=loop),
        "127.0.0.1",
        0,
    )
    box.port = int(server.sockets[0].getsockname()[1])
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class Receiver:
    """A webhook receiver: `/ok`, `/flaky` (fails `failures` times first), `/slow`."""

    secret: str = ""
    base_url: str = ""
    got: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    failures: int = 0
    slow_seconds: float = 2.0

    def events(self, path: str = "/ok") -> list[dict[str, Any]]:
        return [g["body"] for g in self.got if g["path"] == path]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if not verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER), body):
            self.rejected += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        path = request.url.path
        if path == "/slow":
            await asyncio.sleep(self.slow_seconds)
        if path == "/flaky" and self.failures > 0:
            self.failures -= 1
            return Response("receiver is restarting", status_code=503)
        self.got.append({"path": path, "headers": dict(request.headers), "body": json.loads(body)})
        return JSONResponse({"ok": True})


@asynccontextmanager
async def receiver(secret: str) -> AsyncIterator[Receiver]:
    state = Receiver(secret=secret)
    app = Starlette(
        routes=[Route(p, state.handle, methods=["POST"]) for p in ("/ok", "/flaky", "/slow")]
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.should_exit = True
        server.force_exit = True
        await task
