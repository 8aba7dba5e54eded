"""Reading an email: take the bytes apart, tell robots from people, cut quotes and signatures.

Pure functions, no I/O (STYLE.md rule 8), so the rules of `ticketing/mail_in.py` can be
tested exhaustively. Anything a sender can get wrong is a `MailRejected` carrying the
SMTP reply that says why; nothing else escapes `parse_email` (hypothesis checks it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser

from ticketing.mail_out import MailSettings, ticket_from_reply_address
from ticketing.mail_templates import LANGUAGES, language

# MIME damage that leaves us unsure what the message even is.
_FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
)
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_ROBOT_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")


class MailRejected(Exception):
    """An email we refuse, with the SMTP reply that says why."""

    def __init__(self, code: int, status: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.reply = f"{code} {status} {text}"


@dataclass
class Incoming:
    """An email taken apart: who, what, which thread, which files."""

    message_id: str
    sender: str
    sender_name: str
    subject: str
    text: str
    lang: str
    copied: list[str]  # To and Cc addresses, ours excluded
    answers: list[str]  # Message-IDs of In-Reply-To and References, nearest first
    ticket_hint: int | None  # from our signed Reply-To address
    auto: str | None  # why this is a robot's mail, if it is
    files: list[tuple[str, bytes]] = field(default_factory=list)


# ------------------------------------------------------------------ parsing
def parse_email(
    raw: bytes, mail: MailSettings, *, envelope_from: str | None, recipients: list[str]
) -> Incoming:
    """Take an email apart, or refuse it with the SMTP error a sender should see.

    Anything the parser trips over is the sender's malformed mail (550), never our
    temporary failure (451): a retry of the same bytes would fail the same way.
    """
    if len(raw) > mail.max_email_bytes:
        raise MailRejected(
            552, "5.3.4", f"The message is larger than {_size(mail.max_email_bytes)}."
        )
    try:
        return _parse(raw, mail, envelope_from, recipients)
    except MailRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: any failure means malformed
        detail = str(exc)[:200] or type(exc).__name__
        raise MailRejected(550, "5.6.0", f"Malformed message: {detail}") from None


def _parse(
    raw: bytes, mail: MailSettings, envelope_from: str | None, recipients: list[str]
) -> Incoming:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    for part in message.walk():
        for defect in part.defects:
            if isinstance(defect, _FATAL_DEFECTS):
                raise MailRejected(550, "5.6.0", f"Malformed MIME: {defect.__doc__ or defect}")
    senders = getaddresses([str(v) for v in message.get_all("From", [])])
    to_cc = getaddresses([str(v) for name in ("To", "Cc") for v in message.get_all(name, [])])
    sender_name, sender = next(((n, a) for n, a in senders if "@" in a), ("", ""))
    sender = sender.strip().lower()
    if not sender or any(c.isspace() for c in sender) or len(sender) > 254:
        raise MailRejected(550, "5.1.7", "The message has no sender address (From).")
    ours = [a for a in recipients + [a for _, a in to_cc] if mail.accepts(a)]
    hint = next(
        (t for t in (ticket_from_reply_address(mail, a) for a in ours) if t is not None), None
    )
    copied = [a.lower() for _, a in to_cc if "@" in a and not mail.accepts(a)]
    text, stored = _body_and_files(message)
    return Incoming(
        message_id=_message_id(message, raw, mail),
        sender=sender,
        sender_name=" ".join(sender_name.split())[:120],
        subject=" ".join(str(message.get("Subject", "")).split()),
        text=text,
        lang=language(str(message.get("Content-Language", "")).split(",")[0]),
        copied=[a for a in dict.fromkeys(copied) if a != sender],
        answers=_answered_ids(message),
        ticket_hint=hint,
        auto=_robot_reason(message, sender, envelope_from, mail),
        files=stored,
    )


def _size(count: int) -> str:
    return f"{count // 1_048_576} MB" if count >= 1_048_576 else f"{count // 1024} KB"


def _message_id(message: EmailMessage, raw: bytes, mail: MailSettings) -> str:
    found = _MESSAGE_ID.search(str(message.get("Message-ID", "")))
    if found:
        return found.group(0)
    # No Message-ID: the same email relayed twice still has the same headers and body.
    digest = hashlib.sha256()
    for name in ("From", "Date", "Subject"):
        digest.update(str(message.get(name, "")).encode("utf-8", "replace") + b"\0")
    digest.update(raw.partition(b"\r\n\r\n")[2] or raw.partition(b"\n\n")[2])
    return f"<{digest.hexdigest()[:40]}@no-message-id.{mail.domain}>"


def _answered_ids(message: EmailMessage) -> list[str]:
    ids = _MESSAGE_ID.findall(str(message.get("In-Reply-To", "")))
    ids += list(reversed(_MESSAGE_ID.findall(str(message.get("References", "")))))
    return list(dict.fromkeys(ids))[:50]


def _robot_reason(
    message: EmailMessage, sender: str, envelope_from: str | None, mail: MailSettings
) -> str | None:
    """Why this email was written by a machine (RFC 3834, RFC 3464), if it was."""
    if envelope_from is not None and envelope_from.strip("<> ") == "":
        return "bounce (empty return path)"
    if message.get_content_type() == "multipart/report":
        return "bounce (delivery report)"
    if sender.partition("@")[0] in _ROBOT_SENDERS:
        return f"bounce (from {sender.partition('@')[0]})"
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return f"auto-reply (Auto-Submitted: {auto[:40]})"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"auto-reply (Precedence: {precedence})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if message.get(name) is not None:
            return f"auto-reply ({name})"
    if mail.accepts(sender):
        return "from our own address (a loop)"
    return None


def _body_and_files(message: EmailMessage) -> tuple[str, list[tuple[str, bytes]]]:
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        content = _decoded_text(body)
        text = html_to_text(content) if body.get_content_type() == "text/html" else content
    found: list[tuple[str, bytes]] = []
    for part in message.iter_attachments():
        if part.is_multipart() or part.get_content_maintype() == "message":
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            found.append((part.get_filename() or "attachment", data))
    return text.replace("\r\n", "\n").replace("\x00", "").strip(), found


def _decoded_text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError, AssertionError):  # an unknown charset, bad bytes
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


class _TextOfHtml(HTMLParser):
    """HTML to plain text: block tags become line breaks; scripts, styles and the
    quoted history of common mail clients (blockquote, gmail_quote) are dropped."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "hr"})
    DROP = frozenset({"script", "style", "head", "title", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.dropping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
        if self.dropping or tag in self.DROP or "gmail_quote" in names or "divRplyFwdMsg" in names:
            if tag not in ("br", "hr", "img", "meta", "link", "input"):
                self.dropping.append(tag)
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in self.BLOCKS:
            self._break(2 if tag == "p" else 1)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            if tag in self.dropping:
                while self.dropping and self.dropping.pop() != tag:
                    pass
            return
        if tag in self.BLOCKS:
            self._break(2 if tag == "p" else 1)

    def _break(self, lines: int) -> None:
        """End the current line (a paragraph: and leave a blank one), never more."""
        tail = "".join(self.parts[-3:])
        have = len(tail) - len(tail.rstrip("\n"))
        self.parts.append("\n" * max(0, lines - have))

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.parts.append(data)


def html_to_text(source: str) -> str:
    parser = _TextOfHtml()
    parser.feed(source)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ------------------------------------------------------------------ quotes and signatures
_MARKERS = tuple(strings["reply_marker"] for strings in LANGUAGES.values())
_QUOTE_HEADERS = (
    re.compile(r"^On\b.{0,300}\bwrote:\s*$", re.IGNORECASE),  # Gmail, Apple Mail (en)
    re.compile(r"^Em\b.{0,300}\bescreveu:\s*$", re.IGNORECASE),  # pt-BR
    re.compile(r"^Op\b.{0,300}\b(schreef|geschreven)\b.{0,100}:\s*$", re.IGNORECASE),  # nl
    re.compile(
        r"^-{2,}\s*(Original Message|Forwarded message|Mensagem original|"
        r"Mensagem encaminhada|Oorspronkelijk bericht|Doorgestuurd bericht)\s*-{2,}\s*$",
        re.IGNORECASE,
    ),
    re.compile(r"^_{20,}\s*$"),  # Outlook's rule above its header block
)
_OUTLOOK_FROM = re.compile(r"^(From|De|Van):\s+\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^(Sent|Date|Enviado|Data|Verzonden|Datum|To|Para|Aan):\s", re.I)
_SIGNATURES = (
    re.compile(r"^--\s?$"),  # RFC 3676's delimiter, "-- "
    re.compile(
        r"^(Sent from my|Get Outlook for|Enviado do meu|Enviado de meu|Verzonden vanaf mijn|"
        r"Verstuurd vanaf mijn)\b",
        re.IGNORECASE,
    ),
)


def strip_reply(text: str) -> str:
    """The new words of an answer: cut at the quoted history or the signature."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = len(lines)
    for index, line in enumerate(lines):
        stripped = line.strip()
        joined = f"{stripped} {lines[index + 1].strip()}" if index + 1 < len(lines) else stripped
        if (
            any(marker in stripped for marker in _MARKERS)
            or any(p.match(stripped) or p.match(joined) for p in _QUOTE_HEADERS)
            or (
                _OUTLOOK_FROM.match(stripped)
                and any(_OUTLOOK_NEXT.match(n.strip()) for n in lines[index + 1 : index + 4])
            )
            or any(p.match(line.rstrip("\n")) for p in _SIGNATURES)
        ):
            cut = index
            break
    kept = lines[:cut]
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()  # a trailing quoted block (">") and blank lines
    return "\n".join(kept).strip()
