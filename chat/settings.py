"""Configuration, twelve-factor style: every knob comes from the environment.

A `.env` file in the working directory is read first (values already in the
environment win), so `make run` works with no configuration at all.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, fields, replace
from pathlib import Path

DEV_SECRET_MARKER = "dev-insecure-"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class InsecureSettings(RuntimeError):
    """The configuration is unsafe to run with; the message says what to change."""


def _read_dotenv(path: Path = Path(".env")) -> dict[str, str]:
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _dev_secret() -> str:
    """A per-checkout secret so `make run` is safe without configuration.

    It is stored in `data/secret_key` (git-ignored) so sessions survive restarts.
    """
    path = Path("data/secret_key")
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = DEV_SECRET_MARKER + secrets.token_urlsafe(32)
    path.write_text(value)
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///data/chatdesk.db"
    redis_url: str | None = None
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""
    allowed_origins: tuple[str, ...] = ()
    # Routing timers; each value is the seeds' or the peers' common default.
    offer_timeout_seconds: float = 30.0  # how long one agent has to accept an offer
    max_wait_seconds: float = 300.0  # unanswered this long → missed chat → ticket
    agent_grace_seconds: float = 20.0  # a dropped console may come back before its chats move
    customer_inactivity_seconds: float = 1800.0  # silent customer → chat ends by inactivity
    sweep_interval_seconds: float = 1.0  # how often timers are checked
    # Edge limits (see docs/protocol.md).
    max_frame_bytes: int = 64 * 1024
    # permessage-deflate: smaller frames on the wire; negotiated without context takeover
    # (chat/ws_protocol.py), so it costs an idle socket no memory (docs/performance.md).
    ws_per_message_deflate: bool = True
    # A socket that sends no frame for this long is closed (4000): clients ping every 25 s
    # (docs/protocol.md), so only a dead or silent one is. 90 s leaves room for a
    # background tab whose browser runs its timers once a minute.
    ws_idle_seconds: float = 90.0
    max_message_chars: int = 5000
    rate_messages_per_second: float = 10.0
    rate_burst: int = 30
    rate_chat_messages_per_minute: int = 120  # both sides of one chat together
    rate_new_chats_per_ip_per_hour: int = 20
    # Verified identity: the host site signs its visitor's id (chat/identity.py).
    identity_secret: str = ""
    identity_required: bool = False  # unverified visitors can't chat or see history
    login_failures_allowed: int = 5  # per IP and per account, every 5 minutes
    send_queue_limit: int = 1000
    # Attachments (10 MB) plus multipart overhead; every other body is far smaller.
    max_body_bytes: int = 11 * 1024 * 1024
    # Files sent in a chat (chat/chat_files.py): size, kinds (decided by content, never
    # by name or claimed type) and how many per chat per minute, both sides together.
    max_chat_attachment_bytes: int = 10 * 1024 * 1024
    chat_attachment_types: tuple[str, ...] = (
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "application/zip",
        "text/plain",
    )
    rate_chat_uploads_per_minute: int = 10
    # Log a warning, with the stack, when one callback holds the event loop this long
    # (chat/loop_watch.py); 0 turns the watchdog off.
    loop_stall_warn_seconds: float = 0.5
    # Delivered/read receipts are kept in memory and written this often (chat/receipts.py).
    receipt_flush_seconds: float = 1.0
    session_max_age_seconds: int = 14 * 24 * 3600
    bus_prefix: str = "chatdesk"
    environment: str = "development"
    # Email (docs/integrations.md). No SMTP_HOST: emails stay in the outbox, shown to admins.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "auto"  # auto (STARTTLS if offered) | starttls | tls (port 465) | off
    mail_from: str = ""  # default "Chatdesk <support@MAIL_DOMAIN>"
    mail_domain: str = ""  # where answers come back (Reply-To); default: PUBLIC_URL's host
    mail_listen_host: str = "127.0.0.1"  # `python -m chat mail` listens here
    mail_listen_port: int = 2525
    max_email_bytes: int = 25 * 1024 * 1024
    mail_service_id: int = 0  # new tickets from email; 0 = the first active service

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = {**_read_dotenv(), **(environ if environ is not None else os.environ)}
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            if f.name == "allowed_origins":
                kwargs[f.name] = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
            elif f.name == "chat_attachment_types":
                kwargs[f.name] = tuple(t.strip().lower() for t in raw.split(",") if t.strip())
            elif f.type in ("int",):
                kwargs[f.name] = int(raw)
            elif f.type in ("float",):
                kwargs[f.name] = float(raw)
            elif f.type in ("bool",):
                kwargs[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                kwargs[f.name] = raw
        settings = cls(**kwargs)  # type: ignore[arg-type]
        if not settings.secret_key:
            settings = replace(settings, secret_key=_dev_secret())
        if not settings.public_url:
            settings = replace(settings, public_url=f"http://{settings.host}:{settings.port}")
        return replace(settings, **overrides) if overrides else settings

    @property
    def origin(self) -> str:
        """Chatdesk's own origin, always allowed to open websockets."""
        return self.public_url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def on_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    def check_production_safety(self) -> None:
        """Refuse to serve the world with a development secret (signed tokens would be
        forgeable by anybody who can read this checkout's data folder)."""
        if self.on_loopback and self.environment != "production":
            return
        if not self.secret_key or self.secret_key.startswith(DEV_SECRET_MARKER):
            raise InsecureSettings(
                "SECRET_KEY must be set (a long random value) when Chatdesk listens on "
                f"{self.host} or ENVIRONMENT=production; the development secret is refused."
            )
        if len(self.secret_key) < 32:
            raise InsecureSettings("SECRET_KEY must be at least 32 characters long.")
