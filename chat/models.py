"""Chat-side records: chats, their transcripts, agents' consoles and sessions.

Everything another process might need lives here, never in memory (DESIGN.md,
principle 1). Transcript rows are written before they are delivered (principle 2).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from chat.states import ChatState, EndedBy, SurveyState
from ticketing.db import Base, UTCDateTime, utcnow
from ticketing.models import _enum

ACTIVE_ONLY = f"state = '{ChatState.ACTIVE.value}'"
OFFERED_ONLY = f"state = '{ChatState.OFFERED.value}'"
UNANSWERED_ONLY = f"state IN ('{ChatState.WAITING.value}', '{ChatState.OFFERED.value}')"


class Chat(Base):
    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"))
    state: Mapped[ChatState] = mapped_column(_enum(ChatState), default=ChatState.WAITING)
    subject: Mapped[str] = mapped_column(String(200), default="")
    customer_name: Mapped[str] = mapped_column(String(120), default="")
    customer_email: Mapped[str | None] = mapped_column(String(254))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    offered_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    offer_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Agents who declined or let the offer lapse are not offered this chat again.
    declined_agent_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # First come, first served: a chat put back in the queue keeps its place.
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[EndedBy | None] = mapped_column(_enum(EndedBy))
    end_status: Mapped[str | None] = mapped_column(String(16))
    last_customer_activity_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    survey: Mapped[SurveyState] = mapped_column(_enum(SurveyState), default=SurveyState.NONE)
    # Receipts: the highest seq each side's client has received and has shown on
    # screen, so "delivered" and "read" survive reconnects and process changes.
    customer_delivered_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    customer_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    agent_delivered_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    agent_read_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_chats_state_queued", "state", "queued_at"),
        # Every routing pass counts each agent's open chats: indexing only the active ones
        # keeps that count from reading the agent's whole history (migration 0008).
        Index(
            "ix_chats_active_agent",
            "agent_id",
            postgresql_where=text(ACTIVE_ONLY),
            sqlite_where=text(ACTIVE_ONLY),
        ),
        # … and its offers awaiting an answer: `offered_agent_id`'s own index holds every
        # chat ever made, which SQLite's statistics make it read whole (migration 0009).
        Index(
            "ix_chats_offered_agent",
            "offered_agent_id",
            postgresql_where=text(OFFERED_ONLY),
            sqlite_where=text(OFFERED_ONLY),
        ),
        # The desk's average wait reads the last hour's accepted chats (chat/desk.py).
        Index("ix_chats_accepted_at", "accepted_at"),
        # The sweep's chats left waiting too long (chat/dispatcher.py, UNANSWERED_SINCE).
        Index(
            "ix_chats_unanswered",
            "created_at",
            postgresql_where=text(UNANSWERED_ONLY),
            sqlite_where=text(UNANSWERED_ONLY),
        ),
    )


class ChatMessage(Base):
    """One transcript line. (chat_id, seq) orders it; client ids make resends count once."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(16))  # customer | agent | system
    sender_id: Mapped[int | None] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(120), default="")
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(64))
    # System lines: a translation key and its parameters, so each viewer reads them
    # in their own language; `body` keeps the English text for tickets and search.
    i18n: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A file sent in the chat; the line's body is its file name.
    attachment_id: Mapped[int | None] = mapped_column(
        ForeignKey("chat_attachments.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Loaded only where asked for (replays, conversion): "raise" keeps the hot path from
    # ever lazy-loading it by accident.
    attachment: Mapped[ChatAttachment | None] = relationship(lazy="raise")

    __table_args__ = (
        UniqueConstraint("chat_id", "seq"),
        UniqueConstraint("chat_id", "sender", "client_id", name="uq_chat_messages_client_id"),
    )


class AgentPresence(Base):
    """What the agent chose (online, away, offline) and when they last took a chat."""

    __tablename__ = "agent_presence"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default="offline")
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Ties between equally loaded agents go to the one idle longest.
    last_assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AgentConnection(Base):
    """One open console socket. Heartbeats keep it live; a killed process's rows go stale.

    An agent is reachable while any of their rows is live; when the last one closes
    or goes stale, the grace period starts, after which their chats are re-queued.
    """

    __tablename__ = "agent_connections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(64), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """A security-relevant action: who, from where, when, what (docs/security.md)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # agent | customer | anonymous | system
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(254), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    target: Mapped[str] = mapped_column(String(120), default="")
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ApiToken(Base):
    """A token for integrations, acting as the agent who made it. Only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown in lists, to tell tokens apart
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AgentSession(Base):
    """A console login. The cookie holds a random token; we store only its hash."""

    __tablename__ = "agent_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(Text, default="")


class ChatAttachment(Base):
    """A file uploaded during a chat; bytes on disk (ATTACHMENTS_DIR) like ticket files.

    Uploaded first over HTTP, then sent as a message that names it, so the bytes are
    stored before any line points at them (persist before deliver).
    """

    __tablename__ = "chat_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    uploaded_by: Mapped[str] = mapped_column(String(16))  # customer | agent
    uploader_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CannedResponse(Base):
    """A saved reply agents insert with a shortcut ("/refund").

    Shared ones (agent_id NULL) are kept by admins, optionally for one service;
    personal ones belong to one agent.
    """

    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetSettings(Base):
    """How the widget looks and where it may be embedded; one row, edited in Admin.

    Origins listed here are allowed in addition to ALLOWED_ORIGINS from the
    environment, so a site can be added without a redeploy.
    """

    __tablename__ = "widget_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    color: Mapped[str] = mapped_column(String(7), default="#1f6feb")
    position: Mapped[str] = mapped_column(String(8), default="right")  # right | left
    # Greeting per language code ("en", "pt-BR", "nl"); a missing one uses the default.
    greeting: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
