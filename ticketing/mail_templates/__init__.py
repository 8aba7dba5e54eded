"""The words of every email, per language: en (the reference), pt-BR and nl.

Kept as Python dicts next to the code that uses them, so a missing key is caught by
a test, not by a customer; placeholders are `str.format` fields filled by
`ticketing/mail_out.py`, which escapes them for the HTML part.
"""

from __future__ import annotations

from ticketing.mail_templates import en, nl, pt_BR

DEFAULT_LANG = "en"
LANGUAGES: dict[str, dict[str, str]] = {
    "en": en.STRINGS,
    "pt-BR": pt_BR.STRINGS,
    "nl": nl.STRINGS,
}


def language(lang: str | None) -> str:
    """The supported language closest to `lang` ("pt", "pt-br", "nl-BE" → ours), else en."""
    if not lang:
        return DEFAULT_LANG
    wanted = lang.strip().lower()
    for code in LANGUAGES:
        if code.lower() == wanted:
            return code
    base = wanted.split("-")[0]
    for code in LANGUAGES:
        if code.lower().split("-")[0] == base:
            return code
    return DEFAULT_LANG


def words(lang: str, key: str, **params: object) -> str:
    return LANGUAGES[language(lang)][key].format(**params)
