"""Which fields a service's pre-chat form asks for, and the rule that enforces them.

An admin chooses per service (Admin → Services): the name optional or required; the
email and the subject hidden, optional or required; the message is always required.
Stored as `Service.prechat_fields` (None means `DEFAULT`), sent to the widget in every
`service` object (docs/protocol.md, "Objects used in frames") so the form can draw
itself, and enforced at `start_chat` and `leave_message`, because a form can be
bypassed: a required field that is missing is refused with `field_required`, a
hidden one sent anyway is dropped. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from chat.errors import FieldRequired


class FieldRule(StrEnum):
    HIDDEN = "hidden"
    OPTIONAL = "optional"
    REQUIRED = "required"


# The name may not be hidden: agents and tickets address the customer by it.
ALLOWED_RULES: Mapping[str, frozenset[FieldRule]] = {
    "name": frozenset({FieldRule.OPTIONAL, FieldRule.REQUIRED}),
    "email": frozenset(FieldRule),
    "subject": frozenset(FieldRule),
}


class PrechatConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PrechatFields:
    """Each form field's rule; the defaults are the form as it always was."""

    name: FieldRule = FieldRule.REQUIRED
    email: FieldRule = FieldRule.OPTIONAL
    subject: FieldRule = FieldRule.OPTIONAL

    def __post_init__(self) -> None:
        for field in fields(self):
            rule = getattr(self, field.name)
            allowed = ALLOWED_RULES[field.name]
            if rule not in allowed:
                choices = ", ".join(sorted(allowed))
                raise PrechatConfigError(f"'{field.name}' must be one of: {choices}.")

    def to_dict(self) -> dict[str, str]:
        return {field.name: str(getattr(self, field.name)) for field in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PrechatFields:
        """Missing keys keep their default; unknown keys or rules are refused."""
        if data is None:
            return DEFAULT
        if not isinstance(data, Mapping):
            raise PrechatConfigError("The pre-chat fields must be an object.")
        unknown = set(data) - set(ALLOWED_RULES)
        if unknown:
            raise PrechatConfigError(
                f"Unknown pre-chat fields: {', '.join(sorted(map(str, unknown)))}."
                " Only name, email and subject can be set; the message is always required."
            )
        rules: dict[str, FieldRule] = {}
        for name, value in data.items():
            if not isinstance(value, str) or value not in FieldRule.__members__.values():
                choices = ", ".join(sorted(ALLOWED_RULES[name]))
                raise PrechatConfigError(f"'{name}' must be one of: {choices}.")
            rules[name] = FieldRule(value)
        return cls(**rules)

    def for_leave_message(self) -> PrechatFields:
        """A message left for later is answered by email, so there the email is required."""
        return PrechatFields(name=self.name, email=FieldRule.REQUIRED, subject=self.subject)

    def apply(self, values: Mapping[str, str | None]) -> dict[str, str | None]:
        """The values a chat keeps: hidden ones dropped, blanks as None.

        Raises `FieldRequired` (naming the field) for the first required one missing.
        """
        kept: dict[str, str | None] = {}
        for field in fields(self):
            rule = getattr(self, field.name)
            value = values.get(field.name) or None
            if rule is FieldRule.HIDDEN:
                value = None
            elif rule is FieldRule.REQUIRED and value is None:
                raise FieldRequired(f"Please fill in your {field.name}.", field=field.name)
            kept[field.name] = value
        return kept


DEFAULT = PrechatFields()
