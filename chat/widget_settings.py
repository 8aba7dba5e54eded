"""The widget's look (colour, launcher side, greeting) and the sites that may embed it.

One `widget_settings` row, edited in the console's Admin tab (issue #6). Origins saved
here are allowed *in addition to* ALLOWED_ORIGINS from the environment, so a site can
be added without a redeploy. The origin checks (websocket upgrade, the widget frame's
frame-ancestors, CORS of the public config) are synchronous, so each process keeps a
copy in `WidgetSettingsCache`: reloaded at once by the process that saves, on a bus
event by every other process, and every `RELOAD_PERIOD_SECONDS` in case an event was
lost (docs/security.md, "Origins").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chat.bus import Bus, Event, Subscription
from chat.models import WidgetSettings
from ticketing.clock import Clock

log = logging.getLogger(__name__)

LANGUAGES = ("en", "pt-BR", "nl")  # the widget's translations (static/i18n/)
POSITIONS = ("right", "left")
DEFAULT_COLOR = "#1f6feb"
MAX_ORIGINS = 50
MAX_ORIGIN_CHARS = 200
MAX_GREETING_CHARS = 500
# Published on the desk channel by the process that saved; every process reloads.
CHANGED_EVENT = "widget_settings_changed"
# A lost bus event (Redis outage) delays a new origin by at most this long.
RELOAD_PERIOD_SECONDS = 30.0
_FIELDS = frozenset({"color", "position", "greeting", "allowed_origins"})


class WidgetSettingsError(ValueError):
    """Bad input for the widget settings; the message is for the admin who typed it."""


@dataclass(frozen=True)
class WidgetLook:
    color: str = DEFAULT_COLOR
    position: str = "right"
    greeting: Mapping[str, str] = field(default_factory=dict)  # only non-empty ones
    allowed_origins: tuple[str, ...] = ()

    def updated(self, data: Mapping[str, Any]) -> WidgetLook:
        """These settings with the given fields changed; absent fields keep their value."""
        if not isinstance(data, Mapping):
            raise WidgetSettingsError("The widget settings must be a JSON object.")
        unknown = set(data) - _FIELDS
        if unknown:
            raise WidgetSettingsError(f"Unknown widget settings: {', '.join(sorted(unknown))}.")
        changes: dict[str, Any] = {}
        if "color" in data:
            changes["color"] = parse_color(data["color"])
        if "position" in data:
            if data["position"] not in POSITIONS:
                raise WidgetSettingsError("'position' must be 'right' or 'left'.")
            changes["position"] = data["position"]
        if "greeting" in data:
            changes["greeting"] = parse_greeting(data["greeting"])
        if "allowed_origins" in data:
            changes["allowed_origins"] = parse_origins(data["allowed_origins"])
        return replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """What the widget needs to draw itself; the origins are nobody else's business."""
        return {"color": self.color, "position": self.position, "greeting": dict(self.greeting)}

    def to_dict(self) -> dict[str, Any]:
        return self.public() | {"allowed_origins": list(self.allowed_origins)}


def parse_color(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if len(text) != 7 or text[0] != "#" or any(c not in "0123456789abcdef" for c in text[1:]):
        raise WidgetSettingsError("'color' must be a colour like #1f6feb.")
    return text


def parse_greeting(value: object) -> dict[str, str]:
    """Greeting per language; an empty one is dropped (the widget's default text shows)."""
    if not isinstance(value, Mapping):
        raise WidgetSettingsError("'greeting' must map a language (en, pt-BR, nl) to text.")
    greeting = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise WidgetSettingsError(
                f"'greeting' has an unknown language; use {', '.join(LANGUAGES)}."
            )
        if not isinstance(text, str) or len(text) > MAX_GREETING_CHARS:
            raise WidgetSettingsError(
                f"The greeting for {lang} must be text of at most {MAX_GREETING_CHARS} characters."
            )
        if text.strip():
            greeting[lang] = text.strip()
    return greeting


def parse_origin(value: object) -> str:
    """`scheme://host[:port]` exactly as a browser sends it in the Origin header."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_ORIGIN_CHARS:
        raise WidgetSettingsError(
            f"Each site must be an origin like https://shop.example.com "
            f"(at most {MAX_ORIGIN_CHARS} characters)."
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise WidgetSettingsError(f"'{text[:80]}' is not a valid origin.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise WidgetSettingsError(f"'{text[:80]}' must start with http:// or https://.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text:
        raise WidgetSettingsError(
            f"'{text[:80]}' must be only scheme, host and port — no path, e.g. "
            "https://shop.example.com."
        )
    if parts.username is not None or parts.password is not None:
        raise WidgetSettingsError(f"'{text[:80]}' may not contain a user name or password.")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if any(c.isspace() for c in host) or "*" in host:
        raise WidgetSettingsError(f"'{text[:80]}' must name one host, without wildcards.")
    if ":" in host:
        host = f"[{host}]"  # IPv6, as browsers write it
    else:
        try:  # an international name travels as punycode in the Origin header
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise WidgetSettingsError(f"'{text[:80]}' has an invalid host name.") from None
    default_port = 443 if scheme == "https" else 80
    # Browsers leave the default port out of Origin; an origin must match it exactly.
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default_port else "")


def parse_origins(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise WidgetSettingsError("'allowed_origins' must be a list of origins.")
    if len(value) > MAX_ORIGINS:
        raise WidgetSettingsError(f"At most {MAX_ORIGINS} sites may embed the widget.")
    origins = [parse_origin(v) for v in value]
    return tuple(dict.fromkeys(origins))  # duplicates once, order kept


def _look(row: WidgetSettings | None) -> WidgetLook:
    if row is None:
        return WidgetLook()
    # Trust no stored value blindly: a row edited by hand falls back field by field.
    look = WidgetLook()
    for key, value in (
        ("color", row.color),
        ("position", row.position),
        ("greeting", row.greeting or {}),
        ("allowed_origins", list(row.allowed_origins or [])),
    ):
        try:
            look = look.updated({key: value})
        except WidgetSettingsError:
            log.warning("widget_settings.%s in the database is invalid; using the default", key)
    return look


async def load(session: AsyncSession) -> WidgetLook:
    row = await session.scalar(select(WidgetSettings).order_by(WidgetSettings.id).limit(1))
    return _look(row)


async def save(session: AsyncSession, look: WidgetLook, clock: Clock) -> None:
    """Write the one row (made on the first save); the caller's transaction commits it."""
    row = await session.scalar(select(WidgetSettings).order_by(WidgetSettings.id).limit(1))
    if row is None:
        row = WidgetSettings()
        session.add(row)
    row.color = look.color
    row.position = look.position
    row.greeting = dict(look.greeting)
    row.allowed_origins = list(look.allowed_origins)
    row.updated_at = clock.now()


class WidgetSettingsCache:
    """This process's copy of the settings, so origin checks stay synchronous."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: Bus) -> None:
        self._sessions = sessions
        self._bus = bus
        self.look = WidgetLook()
        self._stale = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    @property
    def origins(self) -> tuple[str, ...]:
        return self.look.allowed_origins

    async def start(self) -> None:
        self._subscription = self._bus.subscribe("desk", self._on_desk_event)
        self._bus.on_reconnect(self._stale.set)  # events may have been lost meanwhile
        await self.reload()
        self._task = asyncio.create_task(self._reload_loop(), name="widget-settings")

    async def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def reload(self) -> None:
        async with self._sessions() as session:
            self.look = await load(session)

    def announce(self) -> None:
        """Tell every other process to reload (after this one saved and reloaded)."""
        self._bus.publish("desk", {"type": CHANGED_EVENT})

    def _on_desk_event(self, channel: str, event: Event) -> None:
        # Only our own event: desk_changed fires on every chat and must not cost a query.
        if event.get("type") == CHANGED_EVENT:
            self._stale.set()

    async def _reload_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(RELOAD_PERIOD_SECONDS):
                    await self._stale.wait()
            except TimeoutError:
                pass
            self._stale.clear()
            try:
                await self.reload()
            except (OperationalError, DBAPIError, OSError) as exc:
                log.warning("reloading the widget settings failed: %s", exc)
            except Exception:  # keep the loop alive; the next period tries again
                log.exception("reloading the widget settings failed")
