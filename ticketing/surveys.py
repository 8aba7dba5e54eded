"""Satisfaction surveys: asked once when a chat ends or a ticket is resolved, answered once.

The answer is a conditional UPDATE (`answered_at IS NULL`), so two answers racing
from the widget and the emailed link can never both count.
"""

from __future__ import annotations

import datetime as dt

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticketing import events
from ticketing.errors import InvalidRating, NoSurvey, SurveyAlreadyAnswered
from ticketing.models import Survey

MAX_COMMENT_CHARS = 2000
_LINK_SALT = "chatdesk.survey-link"


def validate_answer(rating: object, comment: object) -> tuple[int, str | None]:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidRating()
    if comment is not None and not isinstance(comment, str):
        raise InvalidRating("The comment must be text.")
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise InvalidRating(f"The comment may be at most {MAX_COMMENT_CHARS} characters.")
    return rating, (comment.strip() or None) if comment else None


async def answer_survey(
    session: AsyncSession, ticket_id: int, rating: object, comment: object, now: dt.datetime
) -> Survey:
    rating_value, comment_value = validate_answer(rating, comment)
    survey = await session.scalar(select(Survey).where(Survey.ticket_id == ticket_id))
    if survey is None:
        raise NoSurvey()
    result = await session.execute(
        update(Survey)
        .where(Survey.id == survey.id, Survey.answered_at.is_(None))
        .values(rating=rating_value, comment=comment_value, answered_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise SurveyAlreadyAnswered()
    await session.refresh(survey)
    await events.emit(
        session,
        events.DomainEvent(
            events.SURVEY_ANSWERED,
            now,
            ticket_id,
            None,
            {"rating": survey.rating, "comment": survey.comment},
        ),
    )
    return survey


def survey_link_token(secret_key: str, ticket_id: int) -> str:
    """The signed token of a one-click rating link (it names the ticket, nothing else)."""
    return URLSafeSerializer(secret_key, salt=_LINK_SALT).dumps({"t": ticket_id})


def ticket_from_survey_token(secret_key: str, token: str) -> int:
    try:
        data = URLSafeSerializer(secret_key, salt=_LINK_SALT).loads(token)
    except BadSignature:
        raise NoSurvey("This rating link is not valid.") from None
    if not isinstance(data, dict) or not isinstance(data.get("t"), int):
        raise NoSurvey("This rating link is not valid.")
    return int(data["t"])
