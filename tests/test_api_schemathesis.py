"""schemathesis against /api/openapi.json: no input the document allows may cause a 5xx.

A real server (uvicorn in a thread, its own SQLite file) answers generated requests
for every documented operation, both anonymous and as an admin with an API token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from chat.app import create_app
from chat.auth import new_api_token
from chat.migrate import upgrade
from chat.models import ApiToken
from chat.openapi import DOCUMENT
from chat.seed import create_agent, seed_services
from chat.settings import Settings
from tests.support import free_port
from ticketing.db import create_engine, create_sessionmaker, transaction
from ticketing.models import AgentRole

schema = schemathesis.openapi.from_dict(DOCUMENT)


async def _seed(url: str) -> str:
    """Services, an admin and their API token; returns the token."""
    engine = create_engine(url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await seed_services(session)
            admin = await create_agent(
                session, "ada@desk.test", "Ada", "password-123", role=AgentRole.ADMIN
            )
            token, digest, prefix = new_api_token()
            session.add(
                ApiToken(agent_id=admin.id, name="schemathesis", token_hash=digest, prefix=prefix)
            )
    finally:
        await engine.dispose()
    return token


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, an admin's API token) of a server of this module's own."""
    path = Path(tmp_path_factory.mktemp("schemathesis")) / "desk.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    token = asyncio.run(_seed(url))
    port = free_port()
    app = create_app(
        Settings.from_env(
            {},
            database_url=url,
            host="127.0.0.1",
            port=port,
            secret_key="s" * 40,
            public_url=f"http://127.0.0.1:{port}",
            bus_prefix="schemathesis",
            rate_new_chats_per_ip_per_hour=1_000_000,
            login_failures_allowed=1_000_000,
        ),
        run_timers=False,
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    ready = threading.Event()
    for _ in range(300):
        if server.started:
            break
        ready.wait(0.05)
    if not server.started:
        pytest.fail("the server for schemathesis did not start")
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(15)


# Plain pytest parameters (one per documented operation), each driven by Hypothesis:
# schemathesis' own parametrize folds into a single item under pytest-xdist.
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_documented_request_causes_a_server_error(
    operation: Any, live_api: tuple[str, str]
) -> None:
    base_url, token = live_api

    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

    check()
