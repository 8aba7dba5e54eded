"""Record ids in URLs: 1 to 9 digits, so an id beyond what the database stores is simply
not found (404) instead of overflowing the driver (found by schemathesis)."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

MAX_ID = 999_999_999


class IdConvertor(Convertor[int]):
    regex = "[0-9]{1,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        if not 0 <= value <= MAX_ID:
            raise ValueError(f"an id is a whole number from 0 to {MAX_ID}")
        return str(value)


register_url_convertor("id", IdConvertor())


def is_id(value: object) -> bool:
    """A JSON value usable as a record id (booleans and oversized numbers are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
