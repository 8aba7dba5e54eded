"""Outgoing email: the settings, the addresses that route answers back, rendering, SMTP.

An email is rendered when the change happens (its words are then what admins see in
the outbox) and sent later by the worker (`ticketing/deliveries.py`). Every email
has a plain-text and an HTML part in the reader's language, a Reply-To that names
the ticket with a signature (`support+t42.<sig>@domain`), and Message-ID,
In-Reply-To and References headers that keep a ticket's emails in one thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ticketing.mail_templates import language, words
from ticketing.outbox import OutboxEmail, Outcome

SMTP_TLS_MODES = ("auto", "starttls", "tls", "off")
# Long enough for a slow relay to accept a message, short enough that a hung one
# gives its lease back long before `outbox.LEASE` runs out.
SMTP_TIMEOUT_SECONDS = 30.0
# SMTP replies that mean "this address will never take this email": no retry.
_PERMANENT_CODES = range(550, 560)
_REPLY_SALT = b"chatdesk.reply-to:"
_REPLY_TOKEN = re.compile(r"^t(\d{1,12})\.([0-9a-f]{16})$")


class MailConfigError(ValueError):
    """A mail setting that can't work (said at start-up, not at the first email)."""


@dataclass(frozen=True)
class MailSettings:
    """Everything mail needs, taken from `chat.settings.Settings` (ticketing never imports chat)."""

    public_url: str
    secret_key: str
    domain: str = "localhost"
    sender: str = "Chatdesk <support@localhost>"  # the From header
    smtp_host: str = ""  # unset: emails are kept in the outbox, shown to admins
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "auto"
    smtp_timeout: float = SMTP_TIMEOUT_SECONDS
    max_email_bytes: int = 25 * 1024 * 1024
    service_id: int = 0  # new tickets from email go here; 0 = the first active service

    def __post_init__(self) -> None:
        if self.smtp_tls not in SMTP_TLS_MODES:
            raise MailConfigError(f"SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}.")
        if "@" not in self.address:
            raise MailConfigError(f"MAIL_FROM has no email address: {self.sender!r}.")

    @classmethod
    def from_settings(cls, settings: Any) -> MailSettings:
        """From the app's settings object (its `smtp_*` and `mail_*` fields)."""
        public_url = str(settings.public_url).rstrip("/")
        domain = getattr(settings, "mail_domain", "") or _domain_of(public_url)
        sender = getattr(settings, "mail_from", "") or f"Chatdesk <support@{domain}>"
        return cls(
            public_url=public_url,
            secret_key=settings.secret_key,
            domain=domain.lower(),
            sender=sender,
            smtp_host=getattr(settings, "smtp_host", ""),
            smtp_port=int(getattr(settings, "smtp_port", 587)),
            smtp_user=getattr(settings, "smtp_user", ""),
            smtp_password=getattr(settings, "smtp_password", ""),
            smtp_tls=getattr(settings, "smtp_tls", "auto").lower(),
            max_email_bytes=int(getattr(settings, "max_email_bytes", 25 * 1024 * 1024)),
            service_id=int(getattr(settings, "mail_service_id", 0)),
        )

    @property
    def address(self) -> str:
        """The bare support address of the From header."""
        return parseaddr(self.sender)[1].lower()

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    def accepts(self, address: str) -> bool:
        """Whether mail to `address` is ours to receive (the support address, or our domain)."""
        address = address.strip().lower()
        return address == self.address or address.rpartition("@")[2] == self.domain


def _domain_of(public_url: str) -> str:
    host = urlsplit(public_url).hostname or ""
    # An IP address is no mail domain; "localhost" keeps `make run` working offline.
    return host if re.search(r"[a-z]", host) else "localhost"


# ------------------------------------------------------------------ settings on sessions
# Listeners get only (session, event); the mail settings ride on the session factory,
# so each runtime (and each test) has its own public URL and secret, with no globals.
SESSION_INFO_KEY = "chatdesk.mail"


def attach(sessions: async_sessionmaker[AsyncSession], mail: MailSettings) -> None:
    """Make `mail` available to every session this factory makes (see `settings_of`)."""
    info = dict(sessions.kw.get("info") or {})
    info[SESSION_INFO_KEY] = mail
    sessions.configure(info=info)


def settings_of(session: AsyncSession) -> MailSettings | None:
    value = session.info.get(SESSION_INFO_KEY)
    return value if isinstance(value, MailSettings) else None


# ------------------------------------------------------------------ addresses and ids
def _reply_signature(mail: MailSettings, ticket_id: int) -> str:
    digest = hmac.new(
        mail.secret_key.encode(), _REPLY_SALT + str(ticket_id).encode(), hashlib.sha256
    )
    return digest.hexdigest()[:16]


def reply_address(mail: MailSettings, ticket_id: int) -> str:
    """`support+t42.<signature>@domain`: an answer to it joins ticket 42, and only 42."""
    local = mail.address.partition("@")[0].partition("+")[0]
    return f"{local}+t{ticket_id}.{_reply_signature(mail, ticket_id)}@{mail.domain}"


def ticket_from_reply_address(mail: MailSettings, address: str) -> int | None:
    """The ticket an address names, if its signature is ours; None otherwise."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at or domain != mail.domain or "+" not in local:
        return None
    match = _REPLY_TOKEN.match(local.partition("+")[2])
    if match is None:
        return None
    ticket_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _reply_signature(mail, ticket_id)):
        return None
    return ticket_id


def new_message_id(mail: MailSettings, ticket_id: int | None) -> str:
    """A fresh, unguessable Message-ID; the ticket number only helps people reading logs."""
    tag = f".t{ticket_id}" if ticket_id is not None else ""
    return f"<{uuid.uuid4().hex}{tag}@{mail.domain}>"


def thread_root(mail: MailSettings, ticket_id: int) -> str:
    """The id every email of a ticket refers to, so mail clients show one thread."""
    return f"<ticket-{ticket_id}@{mail.domain}>"


def ticket_url(mail: MailSettings, ticket_id: int) -> str:
    return f"{mail.public_url}/portal#/ticket/{ticket_id}"


# ------------------------------------------------------------------ rendering
@dataclass(frozen=True)
class Say:
    """A translated paragraph."""

    key: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Quote:
    """Somebody's message, shown as written (escaped in HTML)."""

    author: str
    body: str


@dataclass(frozen=True)
class Links:
    """Buttons: (translation key of the label, url)."""

    links: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TranscriptLines:
    """A chat transcript: (time, author, text) per line."""

    lines: tuple[tuple[str, str, str], ...]


Block = Say | Quote | Links | TranscriptLines


@dataclass(frozen=True)
class Letter:
    """What an email says, before it is words in one language."""

    lang: str
    name: str
    blocks: tuple[Block, ...]
    footer: Say
    view_url: str | None = None
    reply_marker: bool = True


def _text_block(lang: str, block: Block) -> str:
    if isinstance(block, Say):
        return words(lang, block.key, **block.params)
    if isinstance(block, Quote):
        quoted = "\n".join(f"  {line}" if line else "" for line in block.body.splitlines())
        return f"{block.author}:\n{quoted}" if block.author else quoted
    if isinstance(block, Links):
        return "\n".join(f"{words(lang, key)}: {url}" for key, url in block.links)
    return "\n".join(f"[{time}] {author}: {text}" for time, author, text in block.lines)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _say_html(lang: str, say: Say) -> str:
    # The template is ours, the parameters may be anybody's: escape both, then fill.
    template = words(lang, say.key, **{k: "\x00" + k + "\x00" for k in say.params})
    out = _esc(template)
    for key, value in say.params.items():
        out = out.replace(_esc("\x00" + key + "\x00"), _esc(value))
    return out


def _html_block(lang: str, block: Block) -> str:
    if isinstance(block, Say):
        return f"<p>{_say_html(lang, block)}</p>"
    if isinstance(block, Quote):
        body = _esc(block.body).replace("\n", "<br>\n")
        author = f"<p><strong>{_esc(block.author)}</strong></p>" if block.author else ""
        return (
            f'{author}<blockquote style="margin:0 0 1em;padding:0 1em;'
            f'border-left:3px solid #d0d7de;color:#24292f">{body}</blockquote>'
        )
    if isinstance(block, Links):
        buttons = " ".join(
            f'<a href="{_esc(url)}" style="display:inline-block;margin:0 .5em .5em 0;'
            f"padding:.5em 1em;border:1px solid #1f6feb;border-radius:6px;color:#1f6feb;"
            f'text-decoration:none">{_esc(words(lang, key))}</a>'
            for key, url in block.links
        )
        return f"<p>{buttons}</p>"
    rows = "".join(
        f'<tr><td style="color:#57606a;padding-right:1em;vertical-align:top">{_esc(time)}</td>'
        f'<td style="vertical-align:top"><strong>{_esc(author)}</strong></td>'
        f'<td style="padding-left:1em">{_esc(text).replace(chr(10), "<br>")}</td></tr>'
        for time, author, text in block.lines
    )
    return f'<table style="border-collapse:collapse">{rows}</table>'


def render(letter: Letter) -> tuple[str, str]:
    """The plain-text and HTML parts of a letter, in its language."""
    lang = language(letter.lang)
    greeting = Say("greeting", {"name": letter.name}) if letter.name else Say("greeting.anonymous")
    text_parts: list[str] = []
    html_parts: list[str] = []
    if letter.reply_marker:
        text_parts.append(words(lang, "reply_marker"))
        html_parts.append(f'<p style="color:#8c959f">{_esc(words(lang, "reply_marker"))}</p>')
    for block in (greeting, *letter.blocks):
        text_parts.append(_text_block(lang, block))
        html_parts.append(_html_block(lang, block))
    if letter.view_url:
        text_parts.append(f"{words(lang, 'view')}: {letter.view_url}")
        html_parts.append(
            f'<p><a href="{_esc(letter.view_url)}">{_esc(words(lang, "view"))}</a></p>'
        )
    text_parts.append("-- \n" + words(lang, letter.footer.key, **letter.footer.params))
    html_parts.append(
        f'<p style="color:#8c959f;font-size:12px">{_say_html(lang, letter.footer)}</p>'
    )
    text = "\n\n".join(text_parts) + "\n"
    body = "\n".join(html_parts)
    document = (
        f'<!DOCTYPE html>\n<html lang="{_esc(lang)}"><head><meta charset="utf-8"></head>'
        '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;'
        f'font-size:14px;line-height:1.5;color:#24292f">\n{body}\n</body></html>\n'
    )
    return text, document


def format_when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# ------------------------------------------------------------------ the message itself
def build_message(row: OutboxEmail) -> EmailMessage:
    """The RFC 5322 message of an outbox row, exactly as it will be sent."""
    message = EmailMessage()
    message["From"] = row.sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at.astimezone(dt.UTC))
    message["Message-ID"] = row.message_id
    if row.in_reply_to:
        message["In-Reply-To"] = row.in_reply_to
    if row.references:
        message["References"] = row.references
    if row.reply_to:
        message["Reply-To"] = row.reply_to
    if row.ticket_id is not None:
        message["X-Chatdesk-Ticket"] = str(row.ticket_id)
    for name, value in sorted((row.headers or {}).items()):
        message[name] = value
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    message["Content-Language"] = row.lang  # after the parts: set_content moves Content-*
    return message


class SmtpTransport:
    """Sends through the configured SMTP relay (aiosmtplib), one connection per email."""

    def __init__(self, mail: MailSettings) -> None:
        self.mail = mail

    async def send(self, message: EmailMessage, sender: str, recipients: Sequence[str]) -> None:
        mail = self.mail
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=list(recipients),
            hostname=mail.smtp_host,
            port=mail.smtp_port,
            username=mail.smtp_user or None,
            password=mail.smtp_password or None,
            use_tls=mail.smtp_tls == "tls",
            start_tls={"auto": None, "starttls": True}.get(mail.smtp_tls, False),
            timeout=mail.smtp_timeout,
        )


def outcome_of_smtp_error(exc: Exception) -> Outcome:
    """A refusal for good (5.x.x for the recipient or the content) or a reason to retry."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        permanent = bool(codes) and all(code in _PERMANENT_CODES for code in codes)
        return Outcome.failed(f"Recipient refused: {detail}", permanent=permanent)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return Outcome.failed(
            f"SMTP {exc.code}: {exc.message}", permanent=exc.code in _PERMANENT_CODES
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return Outcome.failed(f"SMTP {exc.code}: {exc.message}")
    return Outcome.failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
