"""Errors a client can cause, each with a stable code (docs/protocol.md, "Error codes").

Raised by the service layer; the websocket edge turns them into `error` frames and
the HTTP edge into JSON with the matching status. User-facing wording lives here.
"""

from __future__ import annotations

from ticketing.errors import DeskError, NoSurvey, SurveyAlreadyAnswered

__all__ = ["DeskError", "NoSurvey", "SurveyAlreadyAnswered"]


class ChatError(DeskError):
    code = "bad_request"


class BadFrame(ChatError):
    code = "bad_frame"
    message = "The frame is not valid."


class ChatNotFound(ChatError):
    code = "chat_not_found"
    message = "There is no such chat."
    http_status = 404


class ChatClosed(ChatError):
    code = "chat_closed"
    message = "This chat has already ended."
    http_status = 409


class NoOpenChat(ChatError):
    code = "no_open_chat"
    message = "You have no open chat."
    http_status = 409


class ChatAlreadyOpen(ChatError):
    code = "chat_already_open"
    message = "You already have an open chat."
    http_status = 409


class DeskUnavailable(ChatError):
    code = "desk_unavailable"
    message = "Nobody is available to chat right now. Please leave a message."
    http_status = 409


class ServiceNotFound(ChatError):
    code = "service_not_found"
    message = "There is no such service."
    http_status = 404


class OfferExpired(ChatError):
    code = "offer_expired"
    message = "This offer is no longer yours to accept."
    http_status = 409


class NotYourChat(ChatError):
    code = "not_your_chat"
    message = "This chat is not assigned to you."
    http_status = 403


class AgentUnavailable(ChatError):
    code = "agent_unavailable"
    message = "That agent is not online with a free slot."
    http_status = 409


class DatabaseUnavailable(ChatError):
    code = "database_unavailable"
    message = "Your message was not saved; it will be sent again when the connection is back."
    http_status = 503


class ChatRateLimited(ChatError):
    code = "rate_limited"
    message = "This chat is receiving too many messages; please slow down."
    http_status = 429


class TooManyChats(ChatError):
    code = "too_many_chats"
    message = "Too many new chats from your network; please try again later."
    http_status = 429


class IdentityRequired(ChatError):
    code = "identity_required"
    message = "Please sign in on the website to chat with us."
    http_status = 403


class FieldRequired(ChatError):
    """The service's pre-chat form requires this field (chat/prechat.py); `field` names it."""

    code = "field_required"
    message = "Please fill in the required fields."
    http_status = 422
