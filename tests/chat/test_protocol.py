"""Unit tests for chat.protocol: every frame the desk accepts, and every way to get it wrong.

The protocol edge must turn any input into either a validated frame or a FrameError
with a stable code (DESIGN.md principle 6, "bad input never hurts"). Anything else
escaping `parse_frame` would close the socket with 1011 instead of answering `error`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chat.errors import DeskError, DeskUnavailable
from chat.protocol import (
    CONSOLE_FRAMES,
    MAX_CLIENT_ID_CHARS,
    MAX_COMMENT_CHARS,
    MAX_EMAIL_CHARS,
    MAX_INT,
    MAX_NAME_CHARS,
    MAX_SUBJECT_CHARS,
    WIDGET_FRAMES,
    BadJson,
    FrameError,
    FrameTooLarge,
    InvalidRatingFrame,
    Limits,
    MessageTooLong,
    Spec,
    UnknownType,
    error_frame,
    parse_frame,
)

LIMITS = Limits(65536, 5000)
MAX_FRAME_BYTES = LIMITS.max_frame_bytes
MAX_MESSAGE_CHARS = LIMITS.max_message_chars

SPECS: dict[str, Spec] = {"widget": WIDGET_FRAMES, "console": CONSOLE_FRAMES}

HYPOTHESIS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# One fully filled, valid example of every frame type (without "type").
VALID_FIELDS: dict[str, dict[str, dict[str, Any]]] = {
    "widget": {
        "hello": {
            "token": "tok.en",
            "last_seq": 3,
            "lang": "en",
            "site": "https://shop.test",
            "user": {"identifier": "c-1", "timestamp": 1800000000, "hash": "a" * 64},
        },
        "start_chat": {
            "service_id": 1,
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "subject": "Invoice question",
            "message": "Hello, my invoice is wrong.",
        },
        "message": {"client_id": "6f1c-42", "body": "Are you there?"},
        "typing": {"is_typing": True},
        "fetch": {"after_seq": 0},
        "end_chat": {},
        "rate": {"rating": 5, "comment": "Quick and kind."},
        "leave_message": {
            "service_id": 2,
            "name": "Bea",
            "email": "bea@example.com",
            "subject": "Call me back",
            "message": "Please call me tomorrow.",
        },
        "email_transcript": {"email": "ana@example.com"},
        "delivered": {"chat_id": 12, "seq": 4},
        "read": {"chat_id": 12, "seq": 3},
        "ping": {},
    },
    "console": {
        "hello": {"chats": {"12": 3, "7": 0}},
        "presence": {"status": "online"},
        "accept": {"chat_id": 12},
        "decline": {"chat_id": 12},
        "message": {"chat_id": 12, "client_id": "c-1", "body": "Hello!"},
        "typing": {"chat_id": 12, "is_typing": False},
        "fetch": {"chat_id": 12, "after_seq": 4},
        "end_chat": {"chat_id": 12, "status": "resolved"},
        "transfer": {"chat_id": 12, "agent_id": 3, "service_id": 2},
        "delivered": {"chat_id": 12, "seq": 9},
        "read": {"chat_id": 12, "seq": 9},
        "ping": {},
    },
}

# What kind of value each field is; every field of both specs must be listed here.
FIELD_KINDS: dict[str, str] = {
    "token": "text",
    "last_seq": "int",
    "lang": "text",
    "site": "text",
    "user": "user",
    "service_id": "int",
    "name": "text",
    "email": "email",
    "subject": "text",
    "message": "body",
    "client_id": "text",
    "body": "body",
    "is_typing": "bool",
    "after_seq": "int",
    "rating": "rating",
    "comment": "text",
    "chats": "seq_map",
    "status": "choice",
    "chat_id": "int",
    "agent_id": "int",
    "seq": "int",
}

# The character limit of every length-limited text field.
TEXT_LIMITS: dict[str, int] = {
    "token": 512,
    "lang": 10,
    "site": 200,
    "name": MAX_NAME_CHARS,
    "subject": MAX_SUBJECT_CHARS,
    "client_id": MAX_CLIENT_ID_CHARS,
    "comment": MAX_COMMENT_CHARS,
}

WRONG_VALUES: dict[str, list[Any]] = {
    "int": [True, False, 1.5, 1.0, -1, -(2**60), MAX_INT + 1, 2**64, "1", "", [], {}, {"a": 1}],
    "text": [0, 7, 1.5, True, False, [], ["x"], {}, {"a": "b"}],
    "body": [0, 7, 1.5, True, False, [], ["hi"], {}, {"body": "hi"}],
    "email": [0, 1.5, True, [], ["a@b.c"], {}, {"email": "a@b.c"}],
    "bool": [0, 1, "true", "false", "", [], {}, 1.0],
    "choice": ["", "closed", "Resolved", "ONLINE", 1, True, [], {}, ["open"]],
    "seq_map": ["", "x", 1, True, [], [["1", 2]], {"1": -1}, {"1": True}, {"1": "2"}, {"1": 1.5}],
    "user": ["", "x", 1, True, [], ["c-1"], {str(n): n for n in range(11)}],
}

ALL_FIELDS = sorted(
    {(side, kind, name) for side, spec in SPECS.items() for kind in spec for name in spec[kind]}
)
REQUIRED_FIELDS = [(s, k, n) for s, k, n in ALL_FIELDS if SPECS[s][k][n][1]]
OPTIONAL_FIELDS = [(s, k, n) for s, k, n in ALL_FIELDS if not SPECS[s][k][n][1]]


def _frame(side: str, kind: str, **changes: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": kind, **VALID_FIELDS[side][kind]}
    frame.update(changes)
    return frame


def _parse(side: str, data: Any) -> dict[str, Any]:
    return parse_frame(json.dumps(data), SPECS[side], LIMITS)


def _raises(side: str, data: Any, error: type[FrameError], code: str) -> FrameError:
    with pytest.raises(error) as info:
        _parse(side, data)
    assert info.value.code == code
    return info.value


def _email_of_length(length: int) -> str:
    domain = "@example.com"
    return "a" * (length - len(domain)) + domain


# --- the tables themselves -------------------------------------------------------------


def test_the_test_tables_cover_every_frame_type_and_field() -> None:
    for side, spec in SPECS.items():
        assert set(VALID_FIELDS[side]) == set(spec)
        for kind, fields in spec.items():
            assert set(VALID_FIELDS[side][kind]) == set(fields), (side, kind)
            for name in fields:
                assert name in FIELD_KINDS, name


@pytest.mark.parametrize("side", ["widget", "console"])
def test_each_sides_session_handles_exactly_its_frames(side: str) -> None:
    """The frame loop looks a frame's handler up by its type (chat/ws_common.py, `Session`)."""
    import inspect

    from chat.ws_console import ConsoleSession
    from chat.ws_widget import WidgetSession

    session = {"widget": WidgetSession, "console": ConsoleSession}[side]
    assert session.FRAMES == set(SPECS[side]) - {"hello"}
    for kind in session.FRAMES | {"hello"}:
        assert inspect.iscoroutinefunction(getattr(session, kind)), kind


def test_error_codes_are_the_documented_ones() -> None:
    assert FrameError.code == "bad_frame"
    assert BadJson.code == "bad_json"
    assert UnknownType.code == "unknown_type"
    assert FrameTooLarge.code == "frame_too_large"
    assert MessageTooLong.code == "message_too_long"
    assert InvalidRatingFrame.code == "invalid_rating"
    for error in (BadJson, UnknownType, FrameTooLarge, MessageTooLong, InvalidRatingFrame):
        assert issubclass(error, FrameError)
    assert issubclass(FrameError, DeskError)


# --- valid frames ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "kind"), [(side, kind) for side, spec in SPECS.items() for kind in spec]
)
def test_every_frame_type_is_accepted_with_valid_fields(side: str, kind: str) -> None:
    frame = _parse(side, _frame(side, kind))
    assert frame["type"] == kind
    assert set(frame) == {"type"} | set(SPECS[side][kind])
    for name in SPECS[side][kind]:
        assert frame[name] is not None


@pytest.mark.parametrize(
    ("side", "kind"), [(side, kind) for side, spec in SPECS.items() for kind in spec]
)
def test_a_frame_with_only_its_required_fields_gets_none_for_the_optional_ones(
    side: str, kind: str
) -> None:
    fields = SPECS[side][kind]
    data = {"type": kind}
    data |= {n: v for n, v in VALID_FIELDS[side][kind].items() if fields[n][1]}
    frame = _parse(side, data)
    assert set(frame) == {"type"} | set(fields)
    for name, (_, required) in fields.items():
        if not required:
            assert frame[name] is None


def test_start_chat_is_parsed_into_clean_values() -> None:
    frame = _parse(
        "widget",
        {
            "type": "start_chat",
            "service_id": 4,
            "name": "  Ada  ",
            "email": "  Ada@Example.COM ",
            "subject": " Invoice ",
            "message": "  keep my spaces  ",
        },
    )
    assert frame == {
        "type": "start_chat",
        "service_id": 4,
        "name": "Ada",
        "email": "ada@example.com",
        "subject": "Invoice",
        "message": "  keep my spaces  ",
    }


def test_console_hello_turns_chat_ids_into_ints() -> None:
    frame = _parse("console", {"type": "hello", "chats": {"12": 3, "007": 0, "1": MAX_INT}})
    assert frame == {"type": "hello", "chats": {12: 3, 7: 0, 1: MAX_INT}}


def test_console_hello_accepts_an_empty_map_and_exactly_100_chats() -> None:
    assert _parse("console", {"type": "hello", "chats": {}})["chats"] == {}
    chats = {str(i): i for i in range(100)}
    assert _parse("console", {"type": "hello", "chats": chats})["chats"] == {
        i: i for i in range(100)
    }


def test_widget_hello_accepts_a_null_token() -> None:
    frame = _parse("widget", {"type": "hello", "token": None})
    assert frame == {
        "type": "hello",
        "token": None,
        "last_seq": None,
        "lang": None,
        "site": None,
        "user": None,
    }


def test_a_transfer_naming_neither_agent_nor_service_still_parses() -> None:
    # Which of the two is required is the handler's decision, not the parser's.
    frame = _parse("console", {"type": "transfer", "chat_id": 1})
    assert frame == {"type": "transfer", "chat_id": 1, "agent_id": None, "service_id": None}


def test_unknown_fields_are_dropped() -> None:
    frame = _parse("widget", {"type": "ping", "extra": {"deep": [1, 2]}, "__proto__": 1})
    assert frame == {"type": "ping"}


@pytest.mark.parametrize("value", [0, 1, 2**31, MAX_INT])
def test_whole_numbers_from_zero_to_2_pow_53_are_accepted(value: int) -> None:
    assert _parse("console", {"type": "accept", "chat_id": value})["chat_id"] == value


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_every_rating_from_1_to_5_is_accepted(rating: int) -> None:
    assert _parse("widget", {"type": "rate", "rating": rating})["rating"] == rating


@pytest.mark.parametrize("status", ["resolved", "open"])
def test_end_chat_accepts_both_ticket_statuses(status: str) -> None:
    assert (
        _parse("console", {"type": "end_chat", "chat_id": 1, "status": status})["status"] == status
    )


def test_a_presence_is_not_a_ticket_status_and_vice_versa() -> None:
    _raises("console", {"type": "presence", "status": "open"}, FrameError, "bad_frame")
    _raises(
        "console", {"type": "end_chat", "chat_id": 1, "status": "online"}, FrameError, "bad_frame"
    )


@pytest.mark.parametrize("status", ["online", "away", "offline"])
def test_presence_accepts_every_status(status: str) -> None:
    assert _parse("console", {"type": "presence", "status": status})["status"] == status


@pytest.mark.parametrize(
    "email", ["a@b.co", "first.last+tag@sub.example.org", "ÄDA@Exämple.de", "x@host.localdomain"]
)
def test_plausible_emails_are_accepted_and_lowercased(email: str) -> None:
    frame = _parse("widget", _frame("widget", "leave_message", email=email))
    assert frame["email"] == email.lower()


def test_an_empty_optional_text_is_kept_as_empty() -> None:
    assert _parse("widget", _frame("widget", "start_chat", subject=""))["subject"] == ""
    assert _parse("widget", _frame("widget", "start_chat", subject="   "))["subject"] == ""


# --- missing and null fields -----------------------------------------------------------


@pytest.mark.parametrize(("side", "kind", "name"), REQUIRED_FIELDS)
def test_a_missing_required_field_is_a_bad_frame(side: str, kind: str, name: str) -> None:
    data = _frame(side, kind)
    del data[name]
    error = _raises(side, data, FrameError, "bad_frame")
    assert type(error) is FrameError
    assert name in str(error)


@pytest.mark.parametrize(("side", "kind", "name"), REQUIRED_FIELDS)
def test_a_null_required_field_counts_as_missing(side: str, kind: str, name: str) -> None:
    error = _raises(side, _frame(side, kind, **{name: None}), FrameError, "bad_frame")
    assert name in str(error)


@pytest.mark.parametrize(("side", "kind", "name"), OPTIONAL_FIELDS)
def test_a_null_optional_field_is_none(side: str, kind: str, name: str) -> None:
    assert _parse(side, _frame(side, kind, **{name: None}))[name] is None


# --- wrong types -----------------------------------------------------------------------


WRONG_TYPE_CASES = [
    pytest.param(side, kind, name, value, id=f"{side}-{kind}-{name}-{value!r}"[:90])
    for side, kind, name in ALL_FIELDS
    if FIELD_KINDS[name] != "rating"
    for value in WRONG_VALUES[FIELD_KINDS[name]]
]


@pytest.mark.parametrize(("side", "kind", "name", "value"), WRONG_TYPE_CASES)
def test_a_field_of_the_wrong_type_is_a_bad_frame(
    side: str, kind: str, name: str, value: Any
) -> None:
    _raises(side, _frame(side, kind, **{name: value}), FrameError, "bad_frame")


@pytest.mark.parametrize("value", [True, False, 0, 6, -1, 100, 4.5, 5.0, "5", [], {}, [5]])
def test_a_rating_outside_1_to_5_or_not_a_whole_number_is_invalid_rating(value: Any) -> None:
    _raises("widget", {"type": "rate", "rating": value}, InvalidRatingFrame, "invalid_rating")


def test_a_missing_rating_is_a_bad_frame_not_an_invalid_rating() -> None:
    error = _raises("widget", {"type": "rate", "comment": "x"}, FrameError, "bad_frame")
    assert type(error) is FrameError


@pytest.mark.parametrize("value", [True, False])
def test_true_and_false_never_pass_as_whole_numbers(value: bool) -> None:
    for side, kind, name in ALL_FIELDS:
        if FIELD_KINDS[name] == "int":
            _raises(side, _frame(side, kind, **{name: value}), FrameError, "bad_frame")


def test_a_number_too_long_to_convert_is_a_frame_error() -> None:
    raw = '{"type": "fetch", "after_seq": ' + "9" * 5000 + "}"
    with pytest.raises(FrameError) as info:
        parse_frame(raw, WIDGET_FRAMES, LIMITS)
    # bad_json under Python's default int-digits limit, bad_frame (too big) without it
    assert info.value.code in ("bad_json", "bad_frame")


def test_an_overflowing_float_is_a_wrong_type_not_a_crash() -> None:
    raw = '{"type": "fetch", "after_seq": 1e400}'
    with pytest.raises(FrameError) as info:
        parse_frame(raw, WIDGET_FRAMES, LIMITS)
    assert info.value.code == "bad_frame"


# --- text limits -----------------------------------------------------------------------


TEXT_LIMIT_CASES = [
    (side, kind, name) for side, kind, name in ALL_FIELDS if FIELD_KINDS[name] == "text"
]


def test_every_text_field_has_a_known_limit() -> None:
    for _, _, name in TEXT_LIMIT_CASES:
        assert name in TEXT_LIMITS, name


@pytest.mark.parametrize(("side", "kind", "name"), TEXT_LIMIT_CASES)
def test_text_exactly_at_its_limit_is_accepted(side: str, kind: str, name: str) -> None:
    value = "x" * TEXT_LIMITS[name]
    assert _parse(side, _frame(side, kind, **{name: value}))[name] == value


@pytest.mark.parametrize(("side", "kind", "name"), TEXT_LIMIT_CASES)
def test_text_one_over_its_limit_is_a_bad_frame(side: str, kind: str, name: str) -> None:
    value = "x" * (TEXT_LIMITS[name] + 1)
    error = _raises(side, _frame(side, kind, **{name: value}), FrameError, "bad_frame")
    assert type(error) is FrameError
    assert name in str(error)


@pytest.mark.parametrize("kind", ["start_chat", "leave_message"])
def test_an_email_at_254_characters_is_accepted_and_at_255_refused(kind: str) -> None:
    ok = _email_of_length(MAX_EMAIL_CHARS)
    assert _parse("widget", _frame("widget", kind, email=ok))["email"] == ok
    too_long = _email_of_length(MAX_EMAIL_CHARS + 1)
    _raises("widget", _frame("widget", kind, email=too_long), FrameError, "bad_frame")


BODY_FIELDS = [(s, k, n) for s, k, n in ALL_FIELDS if FIELD_KINDS[n] == "body"]


@pytest.mark.parametrize(("side", "kind", "name"), BODY_FIELDS)
def test_a_message_at_the_limit_is_accepted(side: str, kind: str, name: str) -> None:
    body = "é" * MAX_MESSAGE_CHARS
    assert _parse(side, _frame(side, kind, **{name: body}))[name] == body


@pytest.mark.parametrize(("side", "kind", "name"), BODY_FIELDS)
def test_a_message_over_the_limit_is_message_too_long(side: str, kind: str, name: str) -> None:
    body = "x" * (MAX_MESSAGE_CHARS + 1)
    _raises(side, _frame(side, kind, **{name: body}), MessageTooLong, "message_too_long")


def test_the_message_limit_comes_from_the_limits_not_a_constant() -> None:
    tight = Limits(65536, 3)
    raw = json.dumps({"type": "message", "client_id": "c", "body": "abcd"})
    with pytest.raises(MessageTooLong):
        parse_frame(raw, WIDGET_FRAMES, tight)
    ok = json.dumps({"type": "message", "client_id": "c", "body": "abc"})
    assert parse_frame(ok, WIDGET_FRAMES, tight)["body"] == "abc"


# --- empty and whitespace --------------------------------------------------------------


BLANKS = ["", " ", "   ", "\t\n", "\u3000", "\u00a0 \r\n"]


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("kind", ["start_chat", "leave_message"])
def test_an_empty_or_blank_name_is_a_bad_frame(kind: str, blank: str) -> None:
    _raises("widget", _frame("widget", kind, name=blank), FrameError, "bad_frame")


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize(("side", "kind", "name"), BODY_FIELDS)
def test_an_empty_or_blank_message_is_a_bad_frame(
    side: str, kind: str, name: str, blank: str
) -> None:
    error = _raises(side, _frame(side, kind, **{name: blank}), FrameError, "bad_frame")
    assert type(error) is FrameError


@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("side", ["widget", "console"])
def test_an_empty_or_blank_client_id_is_a_bad_frame(side: str, blank: str) -> None:
    _raises(side, _frame(side, "message", client_id=blank), FrameError, "bad_frame")


# --- emails ----------------------------------------------------------------------------


BAD_EMAILS = [
    "",
    "   ",
    "ada",
    "ada.example.com",
    "@example.com",
    "ada@",
    "ada@example",
    "ada@@example",
    "ada lovelace@example.com",
    "ada@exa mple.com",
    "ada@example.com\nBcc:eve@evil.test",
    "ada\t@example.com",
    "ada@example.com\r\nX-Evil:1",
]


@pytest.mark.parametrize("email", BAD_EMAILS)
@pytest.mark.parametrize("kind", ["start_chat", "leave_message"])
def test_a_bad_email_is_a_bad_frame(kind: str, email: str) -> None:
    _raises("widget", _frame("widget", kind, email=email), FrameError, "bad_frame")


@pytest.mark.parametrize("kind", ["start_chat", "leave_message"])
@pytest.mark.parametrize("name", ["name", "email", "subject"])
def test_the_form_fields_may_be_left_out_the_service_decides(kind: str, name: str) -> None:
    """Which ones a service requires is its setting (chat/prechat.py, `field_required`)."""
    data = _frame("widget", kind)
    del data[name]
    assert _parse("widget", data)[name] is None


# --- the console hello map -------------------------------------------------------------


@pytest.mark.parametrize(
    "chats",
    [
        {"": 1},
        {"-1": 1},
        {"+1": 1},
        {"1.0": 1},
        {" 1": 1},
        {"1 ": 1},
        {"abc": 1},
        {"0x1f": 1},
        {"1e3": 1},
        {"1" * 16: 1},
        {"²": 1},
        {"¹²": 1},
        {"①": 1},
        {str(i): 0 for i in range(101)},
    ],
    ids=lambda c: repr(c)[:30],
)
def test_a_console_hello_with_bad_chat_ids_is_a_bad_frame(chats: dict[str, int]) -> None:
    _raises("console", {"type": "hello", "chats": chats}, FrameError, "bad_frame")


def test_a_console_hello_chat_id_of_15_digits_is_accepted() -> None:
    key = "9" * 15
    assert _parse("console", {"type": "hello", "chats": {key: 1}})["chats"] == {int(key): 1}


# --- not JSON objects ------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["[]", "[1, 2]", '"hello"', "42", "-1.5", "null", "true", '""'])
def test_json_that_is_not_an_object_is_a_bad_frame(raw: str) -> None:
    for spec in SPECS.values():
        with pytest.raises(FrameError) as info:
            parse_frame(raw, spec, LIMITS)
        assert type(info.value) is FrameError
        assert info.value.code == "bad_frame"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "{",
        "}",
        "{'type': 'ping'}",
        '{"type": "ping",}',
        '{"type": ping}',
        '{"type": "ping"} {"type": "ping"}',
        '{"type": "ping"}garbage',
        "undefined",
        "\x00",
        '{"type": "ping", "x": 01}',
    ],
)
def test_invalid_json_is_bad_json(raw: str) -> None:
    with pytest.raises(BadJson) as info:
        parse_frame(raw, WIDGET_FRAMES, LIMITS)
    assert info.value.code == "bad_json"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_bad_json(literal: str) -> None:
    for raw in (
        literal,
        f'{{"type": "fetch", "after_seq": {literal}}}',
        f'{{"type": "ping", "ignored": [{literal}]}}',
    ):
        with pytest.raises(BadJson):
            parse_frame(raw, WIDGET_FRAMES, LIMITS)


@pytest.mark.parametrize("raw", [b"", b'{"type": "ping"}', b"\xff\xfe", None])
def test_binary_frames_and_none_are_bad_frames(raw: bytes | None) -> None:
    for spec in SPECS.values():
        with pytest.raises(FrameError) as info:
            parse_frame(raw, spec, LIMITS)
        assert type(info.value) is FrameError
        assert info.value.code == "bad_frame"


# --- frame size ------------------------------------------------------------------------


def _padded_ping(total_bytes: int, pad_char: str = "x") -> str:
    head = '{"type": "ping", "pad": "'
    tail = '"}'
    room = total_bytes - len((head + tail).encode())
    width = len(pad_char.encode())
    assert room % width == 0
    return head + pad_char * (room // width) + tail


def test_a_frame_of_exactly_max_frame_bytes_is_accepted() -> None:
    raw = _padded_ping(MAX_FRAME_BYTES)
    assert len(raw.encode()) == MAX_FRAME_BYTES
    assert parse_frame(raw, WIDGET_FRAMES, LIMITS) == {"type": "ping"}


def test_a_frame_one_byte_over_is_too_large() -> None:
    raw = _padded_ping(MAX_FRAME_BYTES + 1)
    with pytest.raises(FrameTooLarge) as info:
        parse_frame(raw, WIDGET_FRAMES, LIMITS)
    assert info.value.code == "frame_too_large"


def test_a_frame_over_the_limit_by_characters_is_too_large() -> None:
    raw = "x" * (MAX_FRAME_BYTES * 2)
    with pytest.raises(FrameTooLarge):
        parse_frame(raw, CONSOLE_FRAMES, LIMITS)


def test_a_frame_under_the_limit_in_characters_but_over_in_utf8_bytes_is_too_large() -> None:
    raw = json.dumps({"type": "ping", "pad": "€" * 30_000}, ensure_ascii=False)
    assert len(raw) < MAX_FRAME_BYTES < len(raw.encode())
    with pytest.raises(FrameTooLarge) as info:
        parse_frame(raw, WIDGET_FRAMES, LIMITS)
    assert info.value.code == "frame_too_large"


def test_a_frame_of_lone_surrogates_is_measured_not_crashed_on() -> None:
    raw = '{"type": "ping", "pad": "' + "\ud800" * 30_000 + '"}'
    with pytest.raises(FrameTooLarge):
        parse_frame(raw, WIDGET_FRAMES, LIMITS)


def test_a_body_within_the_message_limit_can_still_be_too_large_as_a_frame() -> None:
    roomy = Limits(100, 5000)
    raw = json.dumps({"type": "message", "client_id": "c", "body": "x" * 200})
    with pytest.raises(FrameTooLarge):
        parse_frame(raw, WIDGET_FRAMES, roomy)


# --- deep nesting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        "[" * 60_000,
        "[" * 30_000 + "]" * 30_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"type": "ping", "x": ' + "[" * 20_000 + "]" * 20_000 + "}",
    ],
    ids=["100k-open", "60k-open", "30k-closed", "10k-objects", "nested-inside-ping"],
)
def test_deeply_nested_json_is_a_frame_error_not_a_recursion_error(raw: str) -> None:
    with pytest.raises(FrameError):
        parse_frame(raw, WIDGET_FRAMES, LIMITS)


@pytest.mark.parametrize("depth", [100_000, 300_000])
def test_deeply_nested_json_within_a_generous_size_limit_is_bad_json(depth: int) -> None:
    roomy = Limits(10**7, 5000)
    for raw in ("[" * depth, "[" * depth + "]" * depth, '{"a":' * depth):
        with pytest.raises(BadJson):
            parse_frame(raw, WIDGET_FRAMES, roomy)


# --- the type field --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"type": None},
        {"type": ""},
        {"kind": "ping"},
        {"Type": "ping"},
    ],
)
def test_a_frame_without_a_type_is_unknown_type(data: dict[str, Any]) -> None:
    for side in SPECS:
        error = _raises(side, data, UnknownType, "unknown_type")
        assert "type" in str(error)


@pytest.mark.parametrize(
    "kind",
    ["nope", "PING", "Ping", " ping", "ping ", "error", "pong", "welcome", "__class__", "x" * 500],
)
def test_an_unknown_type_is_unknown_type(kind: str) -> None:
    for side in SPECS:
        error = _raises(side, {"type": kind}, UnknownType, "unknown_type")
        assert len(str(error)) < 100  # the echoed type is cut short


@pytest.mark.parametrize("kind", [1, 0, 1.5, True, False, [], ["ping"], {}, {"ping": 1}])
def test_a_type_that_is_not_text_is_unknown_type(kind: Any) -> None:
    for side in SPECS:
        _raises(side, {"type": kind}, UnknownType, "unknown_type")


@pytest.mark.parametrize("kind", sorted(set(WIDGET_FRAMES) - set(CONSOLE_FRAMES)))
def test_widget_only_frames_are_unknown_on_the_console(kind: str) -> None:
    _raises("console", _frame("widget", kind), UnknownType, "unknown_type")


@pytest.mark.parametrize("kind", sorted(set(CONSOLE_FRAMES) - set(WIDGET_FRAMES)))
def test_console_only_frames_are_unknown_on_the_widget(kind: str) -> None:
    _raises("widget", _frame("console", kind), UnknownType, "unknown_type")


# --- error frames ----------------------------------------------------------------------


def test_an_error_frame_carries_code_message_and_ref() -> None:
    frame = error_frame(MessageTooLong("A message may be at most 5 characters."), "c-1")
    assert frame == {
        "type": "error",
        "code": "message_too_long",
        "message": "A message may be at most 5 characters.",
        "ref": "c-1",
    }
    assert json.loads(json.dumps(frame)) == frame


def test_an_error_frame_without_ref_has_a_null_ref() -> None:
    frame = error_frame(BadJson())
    assert frame == {
        "type": "error",
        "code": "bad_json",
        "message": BadJson.message,
        "ref": None,
    }


def test_an_error_frame_includes_scalar_details_like_next_open() -> None:
    error = DeskUnavailable(next_open="2026-11-23T09:00:00Z", retry=3, soon=True, ratio=0.5)
    frame = error_frame(error, "start_chat")
    assert frame == {
        "type": "error",
        "code": "desk_unavailable",
        "message": DeskUnavailable.message,
        "ref": "start_chat",
        "next_open": "2026-11-23T09:00:00Z",
        "retry": 3,
        "soon": True,
        "ratio": 0.5,
    }
    assert json.loads(json.dumps(frame)) == frame


def test_an_error_frame_leaves_out_details_that_are_not_plain_values() -> None:
    error = DeskUnavailable(next_open=None, obj=object(), items=[1, 2], mapping={"a": 1})
    frame = error_frame(error)
    assert frame["next_open"] is None
    assert "obj" not in frame and "items" not in frame and "mapping" not in frame
    json.dumps(frame)


def test_every_parse_error_renders_as_a_serialisable_error_frame() -> None:
    raws: list[str | bytes | None] = [
        None,
        b"x",
        "{",
        "[]",
        '{"type": "nope"}',
        "x" * (MAX_FRAME_BYTES + 1),
        json.dumps({"type": "rate", "rating": 9}),
        json.dumps({"type": "message", "client_id": "c", "body": "x" * 6000}),
    ]
    codes = set()
    for raw in raws:
        with pytest.raises(FrameError) as info:
            parse_frame(raw, WIDGET_FRAMES, LIMITS)
        frame = error_frame(info.value, "ref-1")
        assert frame["type"] == "error" and frame["ref"] == "ref-1"
        assert frame["code"] == info.value.code
        assert isinstance(frame["message"], str) and frame["message"]
        json.loads(json.dumps(frame, allow_nan=False))
        codes.add(frame["code"])
    assert codes == {
        "bad_frame",
        "bad_json",
        "unknown_type",
        "frame_too_large",
        "invalid_rating",
        "message_too_long",
    }


# --- properties ------------------------------------------------------------------------


def _assert_valid_or_frame_error(raw: str | bytes | None, spec: Spec) -> None:
    try:
        frame = parse_frame(raw, spec, LIMITS)
    except FrameError as error:
        assert error.code in {
            "bad_frame",
            "bad_json",
            "unknown_type",
            "frame_too_large",
            "message_too_long",
            "invalid_rating",
        }
        return
    assert isinstance(frame, dict)
    kind = frame["type"]
    assert kind in spec
    assert set(frame) == {"type"} | set(spec[kind])
    for name, (_, required) in spec[kind].items():
        value = frame[name]
        if required:
            assert value is not None, name
        _assert_well_typed(name, value)
    # Validated frames hold only plain values, never NaN or infinities.
    json.dumps(frame, allow_nan=False)


def _assert_well_typed(name: str, value: Any) -> None:
    if value is None:
        return
    field_kind = FIELD_KINDS[name]
    if field_kind == "int":
        assert type(value) is int and 0 <= value <= MAX_INT
    elif field_kind == "rating":
        assert type(value) is int and 1 <= value <= 5
    elif field_kind == "bool":
        assert type(value) is bool
    elif field_kind in ("text", "email"):
        assert type(value) is str and value == value.strip()
        assert len(value) <= TEXT_LIMITS.get(name, MAX_EMAIL_CHARS)
    elif field_kind == "body":
        assert type(value) is str and value.strip() and len(value) <= MAX_MESSAGE_CHARS
    elif field_kind == "choice":
        assert value in {"resolved", "open", "online", "away", "offline"}
    elif field_kind == "user":
        assert type(value) is dict and set(value) <= {
            "identifier",
            "timestamp",
            "hash",
            "name",
            "email",
        }
        assert all(isinstance(v, str | int) for v in value.values())
    elif field_kind == "seq_map":
        assert type(value) is dict and len(value) <= 100
        for key, seq in value.items():
            assert type(key) is int and key >= 0
            assert type(seq) is int and 0 <= seq <= MAX_INT


DIGITISH = st.text(alphabet="0123456789²³¹①١٢৩𝟘 -+.x", min_size=0, max_size=17)
KEYS = st.one_of(DIGITISH, st.text(max_size=8), st.sampled_from(sorted(FIELD_KINDS) + ["type"]))
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-3, max_value=8),
    st.sampled_from([MAX_INT, MAX_INT + 1, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=20,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # NaN/Infinity literals stay in on purpose


@HYPOTHESIS
@given(side=st.sampled_from(sorted(SPECS)), value=JSON_VALUES)
def test_any_json_value_parses_to_a_valid_frame_or_a_frame_error(side: str, value: Any) -> None:
    _assert_valid_or_frame_error(_dumps(value), SPECS[side])


@HYPOTHESIS
@given(side=st.sampled_from(sorted(SPECS)), raw=st.one_of(st.text(), st.binary(), st.none()))
def test_any_text_or_binary_parses_to_a_valid_frame_or_a_frame_error(
    side: str, raw: str | bytes | None
) -> None:
    _assert_valid_or_frame_error(raw, SPECS[side])


def _field_values(name: str) -> st.SearchStrategy[Any]:
    valid = {
        "int": st.integers(min_value=0, max_value=MAX_INT),
        "rating": st.integers(min_value=1, max_value=5),
        "bool": st.booleans(),
        "text": st.text(max_size=TEXT_LIMITS.get(name, 10) + 2),
        "email": st.builds(lambda a, b: f"{a}@{b}.test", st.text(max_size=6), st.text(max_size=6)),
        "body": st.text(max_size=30),
        "choice": st.sampled_from(["resolved", "open", "online", "away", "offline"]),
        "seq_map": st.dictionaries(DIGITISH, st.integers(min_value=-1, max_value=MAX_INT + 1)),
        "user": st.dictionaries(
            st.sampled_from(["identifier", "timestamp", "hash", "x"]),
            st.one_of(st.text(max_size=8), st.integers()),
            max_size=4,
        ),
    }[FIELD_KINDS[name]]
    return st.one_of(valid, JSON_VALUES)


@st.composite
def _typed_frames(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    side = draw(st.sampled_from(sorted(SPECS)))
    kind = draw(st.sampled_from(sorted(SPECS[side])))
    data: dict[str, Any] = {"type": kind}
    for name in SPECS[side][kind]:
        if draw(st.integers(min_value=0, max_value=5)):  # mostly present
            data[name] = draw(_field_values(name))
    data |= draw(
        st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=2).map(
            lambda extra: {k: v for k, v in extra.items() if k != "type"}
        )
    )
    return side, data


@HYPOTHESIS
@given(case=_typed_frames())
def test_a_frame_with_a_valid_type_and_random_fields_is_valid_or_a_frame_error(
    case: tuple[str, dict[str, Any]],
) -> None:
    side, data = case
    _assert_valid_or_frame_error(_dumps(data), SPECS[side])


@HYPOTHESIS
@given(chats=st.dictionaries(DIGITISH, st.integers(min_value=0, max_value=9), max_size=5))
@example(chats={"²": 1})
def test_a_console_hello_map_is_parsed_or_refused_with_a_frame_error(
    chats: dict[str, int],
) -> None:
    _assert_valid_or_frame_error(_dumps({"type": "hello", "chats": chats}), CONSOLE_FRAMES)


@pytest.mark.parametrize("field", ["body", "client_id"])
def test_a_lone_surrogate_is_refused_at_the_edge(field: str) -> None:
    """Valid JSON, invalid text: echoing it back once silenced the socket for good."""
    frame = {"type": "message", "client_id": "c", "body": "hi"}
    frame[field] = "\ud800"
    with pytest.raises(FrameError) as refused:
        parse_frame(json.dumps(frame), WIDGET_FRAMES, Limits(65536, 5000))
    assert refused.value.code == "bad_frame" and "valid text" in refused.value.message


# --- receipts --------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["widget", "console"])
@pytest.mark.parametrize("kind", ["delivered", "read"])
def test_receipts_are_the_same_frame_on_both_sides(side: str, kind: str) -> None:
    frame = _parse(side, {"type": kind, "chat_id": 7, "seq": 0, "extra": "dropped"})
    assert frame == {"type": kind, "chat_id": 7, "seq": 0}
    _raises(side, {"type": kind, "chat_id": 7, "seq": -1}, FrameError, "bad_frame")
    _raises(side, {"type": kind, "chat_id": 7, "seq": MAX_INT + 1}, FrameError, "bad_frame")
