"""Everything one process runs, built and torn down in order by the app's lifespan.

Database engine, bus, transcript writer, chat service, hub and dispatcher. Tests
build one with a fake clock and their own database/bus; `make run` builds the
default (SQLite + in-process bus).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import ticketing.notifications  # noqa: F401  (listener: emails to customers)
import ticketing.webhooks  # noqa: F401  (listener: webhook deliveries)
from chat.auth import CustomerTokens
from chat.bus import Bus
from chat.dispatcher import Dispatcher
from chat.hub import Hub
from chat.lifecycle import ChatService
from chat.loop_watch import LoopWatch
from chat.ratelimit import EdgeLimits
from chat.receipts import ReceiptBook
from chat.settings import Settings
from chat.transcripts import TranscriptWriter
from chat.widget_settings import WidgetSettingsCache
from ticketing.clock import Clock, SystemClock
from ticketing.db import create_engine, create_scan_engine, create_sessionmaker
from ticketing.mail_out import MailSettings, attach


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Reads that may scan a table (ticket search): `sessions` itself on PostgreSQL, a
    # thread's read-only connection on SQLite (ticketing.db.create_scan_engine).
    scans: async_sessionmaker[AsyncSession]
    bus: Bus
    writer: TranscriptWriter
    service: ChatService
    hub: Hub
    dispatcher: Dispatcher
    receipts: ReceiptBook  # delivered/read, coalesced in memory and written in batches
    tokens: CustomerTokens
    limits: EdgeLimits
    widget: WidgetSettingsCache  # the widget's saved look and embedding sites (Admin tab)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack, repr=False)

    @classmethod
    async def start(
        cls, settings: Settings, clock: Clock | None = None, *, run_timers: bool = True
    ) -> Runtime:
        clock = clock or SystemClock()
        stack = AsyncExitStack()
        if settings.loop_stall_warn_seconds > 0:
            watch = LoopWatch(settings.loop_stall_warn_seconds)
            watch.start()
            stack.callback(watch.stop)
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        try:
            sessions = create_sessionmaker(engine)
            scan_engine = create_scan_engine(engine)
            scans = sessions
            if scan_engine is not None:
                stack.push_async_callback(scan_engine.dispose)
                scans = create_sessionmaker(scan_engine)
            attach(sessions, MailSettings.from_settings(settings))  # for the email listener
            bus = Bus(settings.redis_url or None, prefix=settings.bus_prefix)
            await bus.connect()
            stack.push_async_callback(bus.disconnect)
            writer = TranscriptWriter(sessions, bus, clock)
            await writer.start()
            stack.push_async_callback(writer.stop)
            receipts = ReceiptBook(sessions, bus, settings.receipt_flush_seconds)
            await receipts.start()
            stack.push_async_callback(receipts.stop)
            service = ChatService(sessions, bus, clock, settings, writer)
            hub = Hub(bus, service)
            dispatcher = Dispatcher(service)
            await hub.start()
            stack.push_async_callback(hub.stop)
            await dispatcher.start(sweep=run_timers)
            stack.push_async_callback(dispatcher.stop)
            widget = WidgetSettingsCache(sessions, bus)
            await widget.start()
            stack.push_async_callback(widget.stop)
            limits = EdgeLimits.from_settings(settings)  # Redis-shared when on Redis
            stack.push_async_callback(limits.close)
        except BaseException:
            await stack.aclose()
            raise
        return cls(
            settings=settings,
            clock=clock,
            engine=engine,
            sessions=sessions,
            scans=scans,
            bus=bus,
            writer=writer,
            service=service,
            hub=hub,
            dispatcher=dispatcher,
            receipts=receipts,
            tokens=CustomerTokens(settings.secret_key),
            widget=widget,
            limits=limits,
            _stack=stack,
        )

    async def stop(self) -> None:
        await self._stack.aclose()
