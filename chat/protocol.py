"""The websocket protocol's edge: parse and validate frames, name the close codes.

Pure functions, no I/O (DESIGN.md principle 6, "bad input never hurts"): a frame is
checked for size, JSON, shape and every field's type before anything acts on it.
The tables below are the protocol in code; docs/protocol.md is the same in words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from chat.errors import ChatError, DeskError

WS_1008_POLICY_VIOLATION = 1008
WS_1011_INTERNAL_ERROR = 1011
WS_4000_IDLE = 4000  # no frame for WS_IDLE_SECONDS: dead, or not keeping alive
WS_4401_LOGGED_OUT = 4401
WS_4408_SLOW_CONSUMER = 4408

MAX_NAME_CHARS = 120
MAX_SUBJECT_CHARS = 200
MAX_EMAIL_CHARS = 254
MAX_CLIENT_ID_CHARS = 64
MAX_COMMENT_CHARS = 2000
MAX_INT = 2**53  # JSON numbers beyond this lose precision in browsers
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+")


class FrameError(ChatError):
    code = "bad_frame"


class BadJson(FrameError):
    code = "bad_json"
    message = "The frame is not valid JSON."


class UnknownType(FrameError):
    code = "unknown_type"
    message = "Unknown frame type."


class FrameTooLarge(FrameError):
    code = "frame_too_large"
    message = "The frame is too large."


class InvalidRatingFrame(FrameError):
    code = "invalid_rating"
    message = "A rating is a whole number from 1 to 5."


class MessageTooLong(FrameError):
    code = "message_too_long"
    message = "The message is too long."


Check = Callable[[str, Any, "Limits"], Any]


class Limits:
    def __init__(self, max_frame_bytes: int, max_message_chars: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.max_message_chars = max_message_chars


def _int(name: str, value: Any, _: Limits) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise FrameError(f"'{name}' must be a whole number.")
    return value


def _bool(name: str, value: Any, _: Limits) -> bool:
    if not isinstance(value, bool):
        raise FrameError(f"'{name}' must be true or false.")
    return value


def _valid_unicode(name: str, value: str) -> None:
    """JSON can carry lone surrogates (\\ud800) that no UTF-8 text, database or
    browser accepts; refuse them here rather than fail later on the way out."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FrameError(f"'{name}' is not valid text.") from None


def _text(limit: int) -> Check:
    def check(name: str, value: Any, _: Limits) -> str:
        if not isinstance(value, str):
            raise FrameError(f"'{name}' must be text.")
        _valid_unicode(name, value)
        if len(value) > limit:
            raise FrameError(f"'{name}' may be at most {limit} characters.")
        return value.strip()

    return check


def _required_text(limit: int) -> Check:
    inner = _text(limit)

    def check(name: str, value: Any, limits: Limits) -> str:
        result = inner(name, value, limits)
        if not result:
            raise FrameError(f"'{name}' may not be empty.")
        return result

    return check


def _body(name: str, value: Any, limits: Limits) -> str:
    if not isinstance(value, str):
        raise FrameError(f"'{name}' must be text.")
    _valid_unicode(name, value)
    if len(value) > limits.max_message_chars:
        raise MessageTooLong(f"A message may be at most {limits.max_message_chars} characters.")
    if not value.strip():
        raise FrameError(f"'{name}' may not be empty.")
    return value


def _email(name: str, value: Any, limits: Limits) -> str:
    text = _text(MAX_EMAIL_CHARS)(name, value, limits)
    # No whitespace or control characters anywhere: this ends up in mail headers.
    if not _EMAIL.fullmatch(text):
        raise FrameError(f"'{name}' must be an email address.")
    return text.lower()


def _status(name: str, value: Any, _: Limits) -> str:
    if value not in ("resolved", "open"):
        raise FrameError(f"'{name}' must be 'resolved' or 'open'.")
    return str(value)


def _presence(name: str, value: Any, _: Limits) -> str:
    if value not in ("online", "away", "offline"):
        raise FrameError(f"'{name}' must be 'online', 'away' or 'offline'.")
    return str(value)


def _seq_map(name: str, value: Any, limits: Limits) -> dict[int, int]:
    if not isinstance(value, dict) or len(value) > 100:
        raise FrameError(f"'{name}' must be an object of at most 100 chat ids.")
    result: dict[int, int] = {}
    for key, seq in value.items():
        if not isinstance(key, str) or not (key.isascii() and key.isdigit()) or len(key) > 15:
            raise FrameError(f"'{name}' keys must be chat ids.")
        result[int(key)] = _int(name, seq, limits)
    return result


def _rating(name: str, value: Any, _: Limits) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InvalidRatingFrame()
    return value


def _user(name: str, value: Any, limits: Limits) -> dict[str, Any]:
    """A signed identity from the host site; its signature is checked by chat/identity.py."""
    if not isinstance(value, dict) or len(value) > 10:
        raise FrameError(f"'{name}' must be an object of identifier, timestamp and hash.")
    allowed = {"identifier", "timestamp", "hash", "name", "email"}
    return {k: v for k, v in value.items() if k in allowed and isinstance(v, str | int)}


def _token(name: str, value: Any, limits: Limits) -> str | None:
    return None if value is None else _text(512)(name, value, limits)


# frame type → {field: (check, required)}
Spec = Mapping[str, Mapping[str, tuple[Check, bool]]]

# Receipts (docs/protocol.md, "Receipts"): the same two frames on both sides.
RECEIPT: Mapping[str, tuple[Check, bool]] = {"chat_id": (_int, True), "seq": (_int, True)}

WIDGET_FRAMES: Spec = {
    "hello": {
        "token": (_token, False),
        "last_seq": (_int, False),
        "lang": (_text(10), False),
        "site": (_text(200), False),
        "user": (_user, False),
    },
    # Which of name, email and subject a service requires is its own setting, checked
    # by the service layer (chat/prechat.py, error `field_required`), not here.
    "start_chat": {
        "service_id": (_int, True),
        "name": (_required_text(MAX_NAME_CHARS), False),
        "email": (_email, False),
        "subject": (_text(MAX_SUBJECT_CHARS), False),
        "message": (_body, True),
    },
    "message": {"client_id": (_required_text(MAX_CLIENT_ID_CHARS), True), "body": (_body, True)},
    "typing": {"is_typing": (_bool, True)},
    "fetch": {"after_seq": (_int, True)},
    "end_chat": {},
    "rate": {"rating": (_rating, True), "comment": (_text(MAX_COMMENT_CHARS), False)},
    "leave_message": {
        "service_id": (_int, True),
        "name": (_required_text(MAX_NAME_CHARS), False),
        "email": (_email, False),
        "subject": (_text(MAX_SUBJECT_CHARS), False),
        "message": (_body, True),
    },
    "email_transcript": {"email": (_email, True)},
    "delivered": RECEIPT,
    "read": RECEIPT,
    "ping": {},
}

CONSOLE_FRAMES: Spec = {
    "hello": {"chats": (_seq_map, False)},
    "presence": {"status": (_presence, True)},
    "accept": {"chat_id": (_int, True)},
    "decline": {"chat_id": (_int, True)},
    "message": {
        "chat_id": (_int, True),
        "client_id": (_required_text(MAX_CLIENT_ID_CHARS), True),
        "body": (_body, True),
    },
    "typing": {"chat_id": (_int, True), "is_typing": (_bool, True)},
    "fetch": {"chat_id": (_int, True), "after_seq": (_int, True)},
    "end_chat": {"chat_id": (_int, True), "status": (_status, True)},
    "transfer": {"chat_id": (_int, True), "agent_id": (_int, False), "service_id": (_int, False)},
    "delivered": RECEIPT,
    "read": RECEIPT,
    "ping": {},
}


def _no_nan(value: str) -> Any:
    raise ValueError(f"{value} is not a number JSON allows")


# One decoder for every frame: `json.loads` with an argument builds a decoder (and its
# scanner) per call, a few per cent of a relayed message's CPU.
_decode_json = json.JSONDecoder(parse_constant=_no_nan).decode


def parse_frame(raw: str | bytes | None, spec: Spec, limits: Limits) -> dict[str, Any]:
    """Turn one incoming websocket frame into a validated dict, or raise a FrameError."""
    if raw is None or isinstance(raw, bytes):
        raise FrameError("Frames must be JSON text, not binary.")
    if len(raw) > limits.max_frame_bytes:  # characters ≤ bytes: a cheap first check
        raise FrameTooLarge(f"A frame may be at most {limits.max_frame_bytes} bytes.")
    if len(raw.encode("utf-8", "surrogatepass")) > limits.max_frame_bytes:
        raise FrameTooLarge(f"A frame may be at most {limits.max_frame_bytes} bytes.")
    try:
        data = _decode_json(raw)
    except (ValueError, RecursionError):
        raise BadJson() from None
    if not isinstance(data, dict):
        raise FrameError("A frame must be a JSON object.")
    kind = data.get("type")
    if isinstance(kind, str):
        kind = kind.encode("utf-8", "replace").decode("utf-8")  # safe to echo in a message
    if not isinstance(kind, str) or kind not in spec:
        raise UnknownType(
            f"Unknown frame type: {str(kind)[:40]!r}." if kind else "A frame needs a 'type'."
        )
    frame: dict[str, Any] = {"type": kind}
    for name, (check, required) in spec[kind].items():
        value = data.get(name)
        if value is None:
            if required:
                raise FrameError(f"'{name}' is required in a {kind} frame.")
            frame[name] = None
            continue
        frame[name] = check(name, value, limits)
    return frame


def error_frame(error: DeskError, ref: object = None) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "error",
        "code": error.code,
        "message": error.message,
        "ref": ref,
    }
    for key, value in error.details.items():  # e.g. next_open for desk_unavailable
        if key not in frame and isinstance(value, str | int | float | bool | None):
            frame[key] = value
    return frame
