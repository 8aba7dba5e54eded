"""The SMTP receiver for the support address (`python -m chat mail`, Procfile `mail`).

aiosmtpd speaks SMTP; `ticketing/mail_in.py` decides what an email becomes. The
server runs on our own event loop (not aiosmtpd's thread-based Controller), so the
handler uses the same async database engine as the rest of the process. Every
refusal is an SMTP reply that says why: 550/552 for mail we will never take, 451
when the fault is ours and the sending server should try again later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import ticketing.notifications  # noqa: F401  (emails acknowledge new tickets)
import ticketing.webhooks  # noqa: F401  (and integrations hear about them)
from ticketing.clock import Clock, SystemClock
from ticketing.db import create_engine, create_sessionmaker
from ticketing.mail_in import receive_email
from ticketing.mail_out import MailSettings, attach
from ticketing.mail_parse import MailRejected

log = logging.getLogger("ticketing.mail_server")

MAX_RECIPIENTS = 20  # one email to the desk names a few of our addresses, not hundreds
# A client that says nothing this long is dropped (aiosmtpd's default is 5 minutes).
IDLE_TIMEOUT_SECONDS = 60.0
# aiosmtpd stops reading past its limit with a bare "552 Too much mail data". A little
# headroom lets `receive_email` refuse most oversized mail itself, saying the limit
# and logging it; the hard limit still caps what one client can make us hold in memory.
SIZE_HEADROOM_BYTES = 256 * 1024


class DeskMailHandler:
    """aiosmtpd handler: accept mail for our addresses, store it through `receive_email`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        mail: MailSettings,
        clock: Clock | None = None,
        attachments_dir: Path | None = None,
    ) -> None:
        self.sessions = sessions
        self.mail = mail
        self.clock = clock or SystemClock()
        self.attachments_dir = attachments_dir

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.mail.accepts(address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        peer = session.peer
        try:
            result = await receive_email(
                self.sessions,
                self.mail,
                raw,
                envelope_from=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
                now=self.clock.now(),
                attachments_dir=self.attachments_dir,
            )
        except MailRejected as exc:
            log.warning("refused mail from %s (%s): %s", envelope.mail_from, peer, exc.reply)
            return exc.reply
        except Exception:
            log.exception("could not store mail from %s (%s)", envelope.mail_from, peer)
            return "451 4.3.0 Temporary failure storing the message; please try again later"
        ticket = f" ticket {result.ticket_id}" if result.ticket_id else ""
        return f"250 2.0.0 {result.outcome}{ticket}"


def smtp_factory(handler: DeskMailHandler, loop: asyncio.AbstractEventLoop) -> Any:
    def make() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=handler.mail.max_email_bytes + SIZE_HEADROOM_BYTES,
            enable_SMTPUTF8=True,
            hostname=handler.mail.domain,
            ident="Chatdesk",
            timeout=IDLE_TIMEOUT_SECONDS,
            loop=loop,
        )

    return make


@asynccontextmanager
async def mail_server(handler: DeskMailHandler, host: str, port: int) -> AsyncIterator[int]:
    """Listen for SMTP on host:port while the block runs; yields the bound port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(smtp_factory(handler, loop), host, port)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def serve_mail(
    database_url: str, mail: MailSettings, host: str, port: int, stop: asyncio.Event
) -> None:
    """The `mail` process: receive until `stop` is set."""
    # aiosmtpd logs every SMTP command at INFO; our own log says what each email became.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    engine = create_engine(database_url)
    try:
        sessions = create_sessionmaker(engine)
        attach(sessions, mail)
        async with mail_server(DeskMailHandler(sessions, mail), host, port) as bound:
            log.info("receiving mail for %s on %s:%s", mail.address, host, bound)
            await stop.wait()
    finally:
        await engine.dispose()
