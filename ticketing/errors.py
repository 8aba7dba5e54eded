"""The one error base of the whole product: a stable `code`, words for people, a status.

Both edges (HTTP and websocket) render any `DeskError` the same way, so a rule
broken over one path reads exactly as over the other.
"""

from __future__ import annotations


class DeskError(Exception):
    code = "bad_request"
    message = "The request could not be processed."
    http_status = 400

    def __init__(self, message: str | None = None, **details: object) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details


class NotFound(DeskError):
    code = "not_found"
    message = "There is no such thing here."
    http_status = 404


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    message = "There is no such ticket."


class NoSurvey(DeskError):
    code = "no_survey"
    message = "There is no satisfaction survey to answer."
    http_status = 404


class SurveyAlreadyAnswered(DeskError):
    code = "survey_already_answered"
    message = "You have already rated this conversation. Thank you!"
    http_status = 409


class InvalidRating(DeskError):
    code = "invalid_rating"
    message = "A rating is a whole number from 1 to 5."
    http_status = 422
