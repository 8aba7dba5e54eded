"""`python -m chat serve|worker|mail|migrate|bootstrap|create-agent`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys

from chat.settings import InsecureSettings, Settings


def _serve(settings: Settings) -> None:
    import uvicorn

    import chat.app  # noqa: F401  (imported now, so start-up's objects are frozen below)
    from chat.gc_tuning import tune_for_serving
    from chat.ws_protocol import websocket_options

    tune_for_serving()
    uvicorn.run(
        "chat.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
        proxy_headers=True,
        **websocket_options(settings),
    )


async def _worker(settings: Settings) -> None:
    """Timers without sockets: the same sweeps the web processes run, for busy desks."""
    from chat.runtime import Runtime

    runtime = await Runtime.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("chat").info("worker running (timers and routing)")
    try:
        await stop.wait()
    finally:
        await runtime.stop()


async def _mail(settings: Settings) -> None:
    """The SMTP receiver: email to the support address becomes tickets and replies."""
    from ticketing.mail_out import MailSettings
    from ticketing.mail_server import serve_mail

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_mail(
        settings.database_url,
        MailSettings.from_settings(settings),
        settings.mail_listen_host,
        settings.mail_listen_port,
        stop,
    )


async def _bootstrap(settings: Settings) -> None:
    from chat.seed import bootstrap
    from ticketing.db import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    try:
        created = await bootstrap(
            create_sessionmaker(engine), os.environ.get("DESK_TIMEZONE", "UTC")
        )
    finally:
        await engine.dispose()
    if created:
        email, password = created
        print("\n  A first admin was created. Log in to the console with:")
        print(f"    {settings.public_url}/console")
        print(f"    email:    {email}")
        print(f"    password: {password}")
        print("  (shown once; add agents with `python -m chat create-agent`)\n")


async def _create_agent(settings: Settings, args: argparse.Namespace) -> None:
    from chat.seed import create_agent
    from ticketing.db import create_engine, create_sessionmaker, transaction
    from ticketing.models import AgentRole

    password = args.password or os.environ.get("AGENT_PASSWORD")
    if not password:
        password = getpass.getpass("Password: ")
    if len(password) < 8:
        sys.exit("The password must have at least 8 characters.")
    engine = create_engine(settings.database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            agent = await create_agent(
                session,
                args.email,
                args.name,
                password,
                role=AgentRole.ADMIN if args.admin else AgentRole.AGENT,
                capacity=args.capacity,
                service_ids=args.service or None,
            )
            print(f"Created {agent.role.value} {agent.email} (id {agent.id}).")
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the web server (widget, console, API)")
    commands.add_parser("worker", help="run timers and routing without serving HTTP")
    commands.add_parser("mail", help="receive email for the support address (SMTP)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("bootstrap", help="seed services and a first admin on an empty desk")
    agent = commands.add_parser("create-agent", help="add an agent or admin")
    agent.add_argument("--email", required=True)
    agent.add_argument("--name", required=True)
    agent.add_argument("--password", help="else $AGENT_PASSWORD, else asked for")
    agent.add_argument("--admin", action="store_true")
    agent.add_argument("--capacity", type=int, default=3)
    agent.add_argument("--service", type=int, action="append", help="service id (repeatable)")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    if args.command in ("serve", "worker"):
        try:
            settings.check_production_safety()
        except InsecureSettings as exc:
            sys.exit(f"Refusing to start: {exc}")
    if args.command == "serve":
        _serve(settings)
    elif args.command == "worker":
        asyncio.run(_worker(settings))
    elif args.command == "mail":
        asyncio.run(_mail(settings))
    elif args.command == "migrate":
        from chat.migrate import upgrade

        upgrade(settings.database_url)
    elif args.command == "bootstrap":
        asyncio.run(_bootstrap(settings))
    elif args.command == "create-agent":
        asyncio.run(_create_agent(settings, args))
