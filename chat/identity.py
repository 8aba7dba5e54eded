"""Verified customer identity: the host site vouches for who its visitor is.

The site's server computes `HMAC-SHA256(IDENTITY_SECRET, identifier + timestamp)`
(hex) and passes identifier, timestamp and hash to the widget (`Chatdesk.setUser`).
We recompute it in constant time and accept it only for five minutes, so a hash
copied from a page can't be replayed forever (a known peer accepted a fixed hash).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

# How long a signed identity stays valid, either way (clock skew between the sites).
IDENTITY_MAX_AGE_SECONDS = 300


@dataclass(frozen=True)
class VerifiedIdentity:
    identifier: str
    name: str | None
    email: str | None


class IdentityRefused(ValueError):
    """Why a presented identity was not accepted (for the log, never for the visitor)."""


def identity_hash(secret: str, identifier: str, timestamp: int) -> str:
    """What the host site computes on its server (documented in docs/security.md)."""
    message = f"{identifier}{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_identity(secret: str, user: Any, now: float) -> VerifiedIdentity:
    """The identity, if `user` carries a valid, fresh signature; else IdentityRefused."""
    if not secret:
        raise IdentityRefused("identity verification is not configured")
    if not isinstance(user, dict):
        raise IdentityRefused("user must be an object")
    identifier, timestamp, given = user.get("identifier"), user.get("timestamp"), user.get("hash")
    if not isinstance(identifier, str) or not 0 < len(identifier) <= 200:
        raise IdentityRefused("identifier must be 1 to 200 characters")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise IdentityRefused("timestamp must be whole seconds since the epoch")
    if not isinstance(given, str) or len(given) != 64:
        raise IdentityRefused("hash must be a hex SHA-256")
    if abs(now - timestamp) > IDENTITY_MAX_AGE_SECONDS:
        raise IdentityRefused("the signature is older than five minutes")
    try:
        expected = identity_hash(secret, identifier, timestamp)
    except UnicodeEncodeError:  # a lone surrogate: valid JSON, not text anybody signed
        raise IdentityRefused("identifier is not valid text") from None
    if not hmac.compare_digest(expected, given.lower()):
        raise IdentityRefused("the signature does not match")
    name, email = user.get("name"), user.get("email")
    return VerifiedIdentity(
        identifier,
        name[:120] if isinstance(name, str) and name.strip() else None,
        email.strip().lower()[:254] if isinstance(email, str) and "@" in email else None,
    )
