"""`/ws/widget`: the customer's side of the protocol (docs/protocol.md, "Widget frames")."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from starlette.websockets import WebSocket

from chat import audit
from chat.auth import allowed_origins
from chat.connection import Client
from chat.errors import (
    ChatNotFound,
    ChatRateLimited,
    IdentityRequired,
    NoOpenChat,
    TooManyChats,
)
from chat.identity import IdentityRefused, VerifiedIdentity, verify_identity
from chat.lifecycle import (
    SNAPSHOT_AGENT_NAME,
    SNAPSHOT_FIRST_MESSAGE,
    shown_to_returning_customer,
    snapshot_view,
)
from chat.models import Chat
from chat.protocol import WIDGET_FRAMES
from chat.runtime import Runtime
from chat.states import ChatState, EndedBy, SurveyState
from chat.transcripts import NewMessage
from chat.ws_common import Session, check_origin, refuse, run_socket, store
from ticketing.db import one_statement, transaction
from ticketing.models import Customer
from ticketing.notifications import send_transcript

log = logging.getLogger("chat.widget")


# A first visit's customer (columns left out take their defaults).
_NEW_CUSTOMER = insert(Customer.__table__).returning(Customer.__table__.c.id)


def _language(lang: str | None) -> str:
    return (lang or "en")[:10]


# A returning customer (by token or signed identity) with their latest chat and
# that chat's snapshot extras, all in one statement.
_latest = aliased(Chat)
_RETURNING_CUSTOMER = select(Customer, Chat, SNAPSHOT_AGENT_NAME, SNAPSHOT_FIRST_MESSAGE).outerjoin(
    Chat,
    Chat.id
    == select(func.max(_latest.id))
    .where(_latest.customer_id == Customer.id)
    .correlate(Customer)
    .scalar_subquery(),
)


class WidgetSession(Session):
    FRAMES = frozenset(
        {
            "start_chat",
            "message",
            "typing",
            "fetch",
            "end_chat",
            "rate",
            "leave_message",
            "email_transcript",
            "delivered",
            "read",
            "ping",
        }
    )

    def __init__(self, runtime: Runtime, client: Client, origin: str) -> None:
        self.runtime = runtime
        self.client = client
        self.origin = origin
        self.chat_id: int | None = None  # the chat this widget shows
        self.verified = False  # the host site signed this visitor's identity
        self.name = ""

    @property
    def customer_id(self) -> int:
        assert self.client.customer_id is not None  # set by hello, which always comes first
        return self.client.customer_id

    async def hello(self, frame: dict[str, Any]) -> None:
        """Welcome, the lines missed since `last_seq`, and the survey if still unanswered.
        Two reads on a resume (customer with its latest chat and snapshot, then the
        replay) and no write unless a customer is new or changed: after a `kill -9` half
        the widgets say hello to the survivor at once (docs/reliability.md, "Found" 3)."""
        runtime = self.runtime
        site = frame.get("site") or self.origin
        if site not in allowed_origins(runtime.settings, runtime.widget.origins):
            site = self.origin
        customer_id = runtime.tokens.verify(frame.get("token"), site)
        identity = self._verified_identity(frame.get("user"))
        self.verified = identity is not None
        chat: Chat | None = None
        snapshot: dict[str, Any] | None = None
        if not customer_id and identity is None:
            customer = await self._new_visitor(frame.get("lang"))
        else:
            async with runtime.sessions() as session:
                found = await self._returning(session, customer_id, identity)
                customer = self._customer(session, found, identity, frame.get("lang"))
                chat, snapshot = self._chat_to_resume(found, customer)
                if session.new or session.dirty:
                    await session.commit()
        self.client.customer_id = customer.id
        self.name = customer.name
        runtime.hub.add_widget(self.client)
        if chat is not None:
            self.chat_id = chat.id
            self.name = chat.customer_name or self.name
        if not runtime.hub.desk_services:
            await runtime.hub.refresh_desk()
        self.client.send(
            {
                "type": "welcome",
                "token": runtime.tokens.issue(customer.id, site),
                "customer": {"id": customer.id, "name": customer.name, "email": customer.email},
                "services": runtime.hub.desk_services,
                "chat": snapshot,
            }
        )
        self.client.last_desk = None  # the next refresh confirms the status just sent
        if chat is not None:
            if chat.state in (ChatState.WAITING, ChatState.OFFERED, ChatState.ACTIVE):
                await runtime.hub.join_chat(self.client, chat.id)
            await runtime.hub.replay(self.client, chat.id, frame.get("last_seq") or 0)
            if chat.survey is SurveyState.PENDING:
                self.client.send(
                    {"type": "survey", "chat_id": chat.id, "ticket_id": chat.ticket_id}
                )
        # Only this client is new: a local refresh sends its queue position; other
        # processes needn't recompute anything for a page view.
        runtime.hub.request_refresh()

    async def _returning(
        self, session: AsyncSession, customer_id: int | None, identity: VerifiedIdentity | None
    ) -> Row[Any] | None:
        """The customer the token or the signed identity names, with their latest chat and
        what its snapshot reads besides the row, in one statement; None if no such one."""
        if identity is not None:
            which = Customer.external_id == identity.identifier
        elif customer_id:
            which = Customer.id == customer_id
        else:
            return None
        return (await session.execute(_RETURNING_CUSTOMER.where(which))).first()

    async def _new_visitor(self, lang: str | None) -> Customer:
        """A first visit (no token, no signed identity): its customer in one INSERT, no
        read and no transaction around it (every visitor of a host page says hello)."""
        values = {"name": "", "lang": _language(lang)}
        async with one_statement(self.runtime.sessions) as connection:
            customer_id = await connection.scalar(_NEW_CUSTOMER, values)
        return Customer(id=customer_id, email=None, **values)

    def _customer(
        self,
        session: AsyncSession,
        found: Row[Any] | None,
        identity: VerifiedIdentity | None,
        lang: str | None,
    ) -> Customer:
        """Who this widget is: the signed identity's customer (made or updated), the
        token's, or a new one. Only a new or changed customer is written."""
        customer: Customer | None = found[0] if found is not None else None
        lang = _language(lang)
        if identity is not None:
            # The host site vouches for this person: the same customer on every device.
            if customer is None:
                customer = Customer(external_id=identity.identifier, name="", lang=lang)
                session.add(customer)
            if identity.name and identity.name != customer.name:
                customer.name = identity.name
            if identity.email and identity.email != customer.email:
                customer.email = identity.email
            return customer
        if customer is not None and customer.external_id is not None:
            customer = None  # a verified customer's chats need their signature
        if customer is None:
            customer = Customer(name="", lang=lang)
            session.add(customer)
        return customer

    def _chat_to_resume(
        self, found: Row[Any] | None, customer: Customer
    ) -> tuple[Chat | None, dict[str, Any] | None]:
        """The returning customer's chat to show (open, survey pending, or recently ended)
        and its snapshot; none for a new customer or one who must first be verified."""
        if found is None or found[0] is not customer or found[1] is None or self._must_verify():
            return None, None
        chat: Chat = found[1]
        if not shown_to_returning_customer(chat, self.runtime.clock.now()):
            return None, None
        return chat, self.runtime.receipts.overlay(snapshot_view(chat, found[2], found[3]))

    def _verified_identity(self, user: object) -> VerifiedIdentity | None:
        if not user:
            return None
        try:
            return verify_identity(
                self.runtime.settings.identity_secret, user, self.runtime.clock.now().timestamp()
            )
        except IdentityRefused as why:
            log.info("identity refused: %s", why)
            return None

    def _must_verify(self) -> bool:
        return self.runtime.settings.identity_required and not self.verified

    async def _count_new_chat(self) -> None:
        """New chats (and messages left) per IP per hour, across processes: a flood stops here."""
        if self._must_verify():
            raise IdentityRequired()
        ip = self.client.websocket.client.host if self.client.websocket.client else "?"
        if not await self.runtime.limits.new_chats_per_ip.hit(ip):
            raise TooManyChats()

    def _open_chat(self) -> int:
        if self._must_verify():
            raise IdentityRequired()
        if self.chat_id is None or self.chat_id not in self.client.chat_ids:
            raise NoOpenChat()
        return self.chat_id

    async def start_chat(self, frame: dict[str, Any]) -> None:
        runtime = self.runtime
        await self._count_new_chat()
        snapshot = await runtime.service.start_chat(
            self.customer_id,
            frame["service_id"],
            frame.get("name"),
            frame.get("email"),
            frame.get("subject"),
            frame["message"],
        )
        self.chat_id, self.name = snapshot["id"], snapshot["customer"]["name"]
        self.client.last_queue = None
        await runtime.hub.join_chat(self.client, snapshot["id"])
        self.client.send({"type": "chat", "chat": snapshot})
        await runtime.hub.replay(self.client, snapshot["id"], 0)

    async def message(self, frame: dict[str, Any]) -> None:
        chat_id = self._open_chat()
        if not self.runtime.limits.chat_messages.allow(chat_id, time.monotonic()):
            raise ChatRateLimited()
        await store(
            self.client,
            self.runtime.writer,
            NewMessage(
                chat_id, "customer", self.customer_id, self.name, frame["body"], frame["client_id"]
            ),
            self.runtime.receipts.saw,
        )

    async def typing(self, frame: dict[str, Any]) -> None:
        chat_id = self._open_chat()
        self.runtime.bus.publish(
            f"chat:{chat_id}",
            {
                "type": "typing",
                "chat_id": chat_id,
                "sender": "customer",
                "is_typing": frame["is_typing"],
            },
        )

    async def fetch(self, frame: dict[str, Any]) -> None:
        if self.chat_id is None:
            raise NoOpenChat()
        await self.runtime.hub.replay(self.client, self.chat_id, frame["after_seq"])

    async def end_chat(self, frame: dict[str, Any]) -> None:
        chat_id = self._open_chat()
        await self.runtime.service.end_chat(chat_id, EndedBy.CUSTOMER, customer_id=self.customer_id)

    async def rate(self, frame: dict[str, Any]) -> None:
        event = await self.runtime.service.rate(
            self.customer_id, frame["rating"], frame.get("comment")
        )
        self.client.send(event)

    async def leave_message(self, frame: dict[str, Any]) -> None:
        await self._count_new_chat()
        ticket_id = await self.runtime.service.leave_message(
            self.customer_id,
            frame["service_id"],
            frame.get("name"),
            frame.get("email"),
            frame.get("subject"),
            frame["message"],
        )
        self.client.send({"type": "ticket_created", "ticket_id": ticket_id})

    async def email_transcript(self, frame: dict[str, Any]) -> None:
        """The customer asks for the finished chat's transcript by email."""
        if self.chat_id is None:
            raise NoOpenChat()
        async with self.runtime.sessions() as session:
            chat = await session.get(Chat, self.chat_id)
        if chat is None or chat.customer_id != self.customer_id:
            raise NoOpenChat()
        async with transaction(self.runtime.sessions) as session:
            await send_transcript(session, chat.id, frame["email"], self.runtime.clock.now())
            audit.add(
                session,
                audit.entry(
                    audit.TRANSCRIPT_EXPORTED,
                    self.runtime.clock,
                    actor_type="customer",
                    actor_id=self.customer_id,
                    target=f"chat:{chat.id}",
                    details={"email": frame["email"]},
                ),
            )
        self.client.send(
            {"type": "transcript_emailed", "chat_id": chat.id, "email": frame["email"]}
        )

    async def delivered(self, frame: dict[str, Any]) -> None:
        await self.runtime.receipts.note(
            self._shown_chat(frame), "customer", "delivered", frame["seq"]
        )

    async def read(self, frame: dict[str, Any]) -> None:
        await self.runtime.receipts.note(self._shown_chat(frame), "customer", "read", frame["seq"])

    def _shown_chat(self, frame: dict[str, Any]) -> int:
        """Receipts are for the chat this widget shows, open or just ended."""
        if self._must_verify():
            raise IdentityRequired()
        if self.chat_id is None:
            raise NoOpenChat()
        if frame["chat_id"] != self.chat_id:
            raise ChatNotFound()
        return self.chat_id

    async def ping(self, frame: dict[str, Any]) -> None:
        self.client.send({"type": "pong"})


async def widget_socket(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    if not check_origin(websocket, runtime):
        await refuse(websocket)
        return
    await websocket.accept()
    client = Client(websocket, "customer", runtime.settings.send_queue_limit)
    widget = WidgetSession(runtime, client, websocket.headers.get("origin", ""))
    try:
        await run_socket(websocket, client, runtime, WIDGET_FRAMES, widget)
    finally:
        runtime.hub.remove(client)
        await client.stop()
