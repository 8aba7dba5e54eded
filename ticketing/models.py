"""The durable records of the support desk (DESIGN.md, "Ticket lifecycle").

Services, the people (agents and customers), tickets with their thread and
history, and satisfaction surveys. Chat-side tables live in `chat/models.py`;
tickets only know a chat by its id, because ticketing never imports chat.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.db import Base, UTCDateTime, utcnow


def _enum(cls: type[enum.Enum]) -> Enum:
    """Enums stored as their string values, portable across dialects."""
    return Enum(cls, values_callable=lambda e: [m.value for m in e], native_enum=False, length=32)


class AgentRole(enum.StrEnum):
    AGENT = "agent"
    ADMIN = "admin"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"  # awaiting the agent
    PENDING = "pending"  # awaiting the customer
    RESOLVED = "resolved"  # awaiting the customer's approval
    CLOSED = "closed"


class TicketOrigin(enum.StrEnum):
    CHAT = "chat"
    PORTAL = "portal"
    EMAIL = "email"
    AGENT = "agent"


class Priority(enum.StrEnum):
    P1 = "P1"  # Blocker
    P2 = "P2"  # Critical
    P3 = "P3"  # Major (the seeds' default)
    P4 = "P4"  # Minor
    P5 = "P5"  # Trivial


class RequestType(enum.StrEnum):
    QUESTION = "question"
    FAULT = "fault"
    IMPROVEMENT = "improvement"
    CUSTOM_DEVELOPMENT = "custom_development"


class AuthorType(enum.StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


agent_services_table = Table(
    "agent_services",
    Base.metadata,
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
)


class Service(Base):
    """A line of support (Support, Billing, …) with its own queue and hours."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # Business hours as `ticketing.business_hours.Schedule.to_dict()`.
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    # `ticketing.sla.SlaTargets.to_dict()`; None means the seeds' defaults.
    sla_targets: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # `ticketing.policy.InactivityPolicy.to_dict()`; None means the defaults.
    inactivity_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The widget's pre-chat form: `chat.prechat.PrechatFields.to_dict()`; None = defaults.
    prechat_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    agents: Mapped[list[Agent]] = relationship(
        secondary=agent_services_table, back_populates="services"
    )


class Agent(Base):
    """Somebody who answers chats and works tickets; admins also configure the desk."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[AgentRole] = mapped_column(_enum(AgentRole), default=AgentRole.AGENT)
    capacity: Mapped[int] = mapped_column(Integer, default=3)  # max concurrent chats
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    services: Mapped[list[Service]] = relationship(
        secondary=agent_services_table, back_populates="agents", lazy="selectin"
    )

    __table_args__ = (CheckConstraint("capacity >= 0", name="capacity_not_negative"),)


class Customer(Base):
    """The person on the other side: a widget visitor, a portal user or an email sender."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    lang: Mapped[str] = mapped_column(String(10), default="en")
    # The host site's own id for this person, from a verified identity (chat/identity.py).
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Organization(Base):
    """A customer company, recognised by its email domain (the Movidesk rule)."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    # AllSolutions: tickets from people who aren't designated contacts wait for a
    # designated contact's approval before anybody works on them.
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrganizationContact(Base):
    """A designated contact of an organization: copied on its tickets, approves them."""

    __tablename__ = "organization_contacts"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )


class Category(Base):
    """A category of requests within one service (the seeds' "Categoria")."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("service_id", "name"),)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus), index=True)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.P3)
    origin: Mapped[TicketOrigin] = mapped_column(_enum(TicketOrigin))
    # One chat, one ticket: the unique constraint makes conversion idempotent even
    # when two processes race or a crashed conversion is retried.
    chat_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    request_type: Mapped[RequestType | None] = mapped_column(_enum(RequestType))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    cc: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # AllSolutions rule: waiting for a designated contact's approval.
    awaiting_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # SLA: pickup stops at the first assignment; resolution pauses while pending.
    picked_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pickup_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    resolution_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    sla_warned: Mapped[str] = mapped_column(String(40), default="")  # "pickup,resolution"
    sla_breached: Mapped[str] = mapped_column(String(40), default="")
    # Inactivity: when the ticket began waiting on the customer, and reminders sent.
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminder_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    requester: Mapped[Customer] = relationship(lazy="joined")
    agent: Mapped[Agent | None] = relationship(lazy="joined")
    service: Mapped[Service] = relationship(lazy="joined")
    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", lazy="raise"
    )


class TicketMessage(Base):
    """One entry of a ticket's thread: a public reply or an internal note."""

    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author_type: Mapped[AuthorType] = mapped_column(_enum(AuthorType))
    author_id: Mapped[int | None] = mapped_column(Integer)
    author_name: Mapped[str] = mapped_column(String(120), default="")
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")


class TicketEvent(Base):
    """The ticket's history: who changed what, when, from → to."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_type: Mapped[AuthorType] = mapped_column(_enum(AuthorType))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(200))
    new_value: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """A file on a ticket; the bytes live on disk (ATTACHMENTS_DIR), the facts here."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    uploaded_by: Mapped[AuthorType] = mapped_column(_enum(AuthorType))
    uploader_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerSession(Base):
    """A customer signed in to the portal (by an emailed link); we store the token's hash."""

    __tablename__ = "customer_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Survey(Base):
    """The satisfaction question for one ticket, asked once, answered once."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("ticket_id"),
        CheckConstraint("rating IS NULL OR (rating BETWEEN 1 AND 5)", name="rating_range"),
    )
