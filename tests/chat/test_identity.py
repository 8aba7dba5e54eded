"""Verified identity: a fresh, exact signature, compared in constant time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.identity import IdentityRefused, identity_hash, verify_identity

SECRET = "site-secret-for-tests"
NOW = 1_800_000_000


def signed(identifier: str = "cust-42", at: int = NOW, **extra: object) -> dict[str, object]:
    return {
        "identifier": identifier,
        "timestamp": at,
        "hash": identity_hash(SECRET, identifier, at),
        **extra,
    }


def test_a_fresh_signature_is_accepted_with_its_details() -> None:
    identity = verify_identity(SECRET, signed(name="Ana", email="ANA@Example.com"), NOW + 10)
    assert (identity.identifier, identity.name, identity.email) == (
        "cust-42",
        "Ana",
        "ana@example.com",
    )


@pytest.mark.parametrize(
    ("user", "now", "why"),
    [
        (signed(at=NOW - 301), NOW, "older than five minutes"),
        (signed(at=NOW + 301), NOW, "older than five minutes"),
        ({**signed(), "identifier": "cust-43"}, NOW, "does not match"),
        ({**signed(), "timestamp": NOW + 1}, NOW, "does not match"),
        ({**signed(), "hash": "0" * 64}, NOW, "does not match"),
        ({**signed(), "hash": "short"}, NOW, "hex SHA-256"),
        ({**signed(), "timestamp": "1800000000"}, NOW, "whole seconds"),
        ({**signed(), "timestamp": True}, NOW, "whole seconds"),
        ({**signed(), "identifier": ""}, NOW, "1 to 200"),
        ("cust-42", NOW, "must be an object"),
        ({**signed(), "identifier": "\ud800"}, NOW, "not valid text"),
    ],
)
def test_stale_forged_or_malformed_identities_are_refused(user: object, now: int, why: str) -> None:
    with pytest.raises(IdentityRefused, match=why):
        verify_identity(SECRET, user, now)


def test_a_replayed_hash_stops_working_after_five_minutes() -> None:
    user = signed()
    assert verify_identity(SECRET, user, NOW + 299).identifier == "cust-42"
    with pytest.raises(IdentityRefused):
        verify_identity(SECRET, user, NOW + 301)


def test_without_a_configured_secret_nothing_is_verified() -> None:
    with pytest.raises(IdentityRefused, match="not configured"):
        verify_identity("", signed(), NOW)


@settings(max_examples=200, deadline=None, database=None)
@given(identifier=st.text(min_size=1, max_size=200), other=st.text(min_size=1, max_size=200))
def test_a_signature_is_valid_for_exactly_its_identifier(identifier: str, other: str) -> None:
    user = {
        "identifier": identifier,
        "timestamp": NOW,
        "hash": identity_hash(SECRET, identifier, NOW),
    }
    assert verify_identity(SECRET, user, NOW).identifier == identifier
    if other != identifier:
        with pytest.raises(IdentityRefused):
            verify_identity(SECRET, {**user, "identifier": other}, NOW)
