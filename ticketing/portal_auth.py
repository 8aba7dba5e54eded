"""Customer sessions for the portal: a random cookie token, only its hash stored.

A customer gets a session by proving who they are elsewhere — the widget's signed
identity (chat side) or an emailed sign-in link — never by a password of ours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from ticketing.access import Principal
from ticketing.clock import Clock
from ticketing.db import transaction
from ticketing.errors import DeskError
from ticketing.models import Customer, CustomerSession

PORTAL_COOKIE = "chatdesk_portal"
PORTAL_CSRF_COOKIE = "chatdesk_portal_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_DAYS = 30
# Emailed links (confirm / reopen / view) work as long as a resolved ticket waits for
# the customer's approval (7 days by default), so the email's buttons don't die early.
LINK_MAX_AGE_SECONDS = 7 * 24 * 3600
_LINK_SALT = "chatdesk.portal-link"


class NotSignedIn(DeskError):
    code = "not_signed_in"
    message = "Please sign in to see your tickets."
    http_status = 401


class PortalCsrfFailed(DeskError):
    code = "csrf_failed"
    message = "This request did not come from the portal; reload the page and try again."
    http_status = 403


class BadLink(DeskError):
    code = "bad_link"
    message = "This sign-in link is not valid or has expired. Ask for a new one."
    http_status = 400


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_customer_session(
    sessions: async_sessionmaker[AsyncSession], customer_id: int, clock: Clock
) -> tuple[str, str]:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = clock.now()
    async with transaction(sessions) as session:
        session.add(
            CustomerSession(
                token_hash=_digest(token),
                customer_id=customer_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + dt.timedelta(days=SESSION_DAYS),
            )
        )
    return token, csrf


async def end_customer_session(sessions: async_sessionmaker[AsyncSession], token: str) -> None:
    async with transaction(sessions) as session:
        await session.execute(
            delete(CustomerSession).where(CustomerSession.token_hash == _digest(token))
        )


def customer_authenticator(sessions: async_sessionmaker[AsyncSession], clock: Clock):  # noqa: ANN201 - returns the Authenticate callable of ticketing.api
    async def authenticate(request: Request, state_changing: bool) -> Principal:
        token = request.cookies.get(PORTAL_COOKIE)
        if not token:
            raise NotSignedIn()
        async with sessions() as session:
            row = await session.get(CustomerSession, _digest(token))
            if row is None or row.expires_at <= clock.now():
                raise NotSignedIn()
            customer = await session.get(Customer, row.customer_id)
            if customer is None:
                raise NotSignedIn()
        if state_changing and not hmac.compare_digest(
            row.csrf_token, request.headers.get(CSRF_HEADER, "")
        ):
            raise PortalCsrfFailed()
        return Principal("customer", customer.id, customer.name, email=customer.email)

    return authenticate


def sign_in_link_token(secret_key: str, customer_id: int) -> str:
    return URLSafeTimedSerializer(secret_key, salt=_LINK_SALT).dumps({"c": customer_id})


def customer_from_link(secret_key: str, token: str) -> int:
    try:
        data = URLSafeTimedSerializer(secret_key, salt=_LINK_SALT).loads(
            token, max_age=LINK_MAX_AGE_SECONDS
        )
    except (BadSignature, SignatureExpired):
        raise BadLink() from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise BadLink()
    return int(data["c"])
