"""A private deployment to break: own PostgreSQL and Redis on free ports, N `chat serve`.

Every service a fault scenario stops, kills or restarts is started here, by us, on a
free port (`tests/faults/services.py`), so no scenario ever touches the machine's
shared Redis or PostgreSQL. The app processes are the real CLI (`python -m chat
serve`) sharing one database and one bus, as a multi-process deployment runs. A bench
that measures rather than breaks may ask for a SQLite file instead (one process, the
single-process deployment).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.server import Process, _python_env, _run, free_port, raise_fd_limit, wait_http
from tests.faults.services import OwnPostgres, OwnRedis, own_postgres, own_redis


@dataclass
class Cluster:
    """What a scenario may break: `pg`, `redis` and the app processes `procs[i]`."""

    pg: OwnPostgres | None  # None: a SQLite file in `workdir`
    redis: OwnRedis | None
    workdir: Path
    env: dict[str, str]
    ports: list[int]
    database_url: str = ""
    service_id: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)
    procs: list[Process | None] = field(default_factory=list)
    restarts: int = 0

    @property
    def postgres(self) -> OwnPostgres:
        """The PostgreSQL a scenario stops or reads; there is none on SQLite."""
        if self.pg is None:
            raise RuntimeError("this cluster runs on a SQLite file: no PostgreSQL")
        return self.pg

    @property
    def origin(self) -> str:
        """Every process is told the same public URL, so one Origin fits all of them."""
        return f"http://127.0.0.1:{self.ports[0]}"

    def base_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def ws_url(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.ports[i]}"

    def alive(self, i: int) -> bool:
        proc = self.procs[i]
        return proc is not None and proc.alive()

    async def start(self, i: int) -> None:
        env = {**self.env, "PORT": str(self.ports[i])}
        proc = Process(
            f"serve{i}-{self.restarts}", [sys.executable, "-m", "chat", "serve"], env, self.workdir
        )
        self.procs[i] = proc
        await wait_http(self.base_url(i) + "/api/health", proc)

    def kill9(self, i: int) -> None:
        """SIGKILL by the pid we started: no shutdown, no lifespan end, sockets just die."""
        proc = self.procs[i]
        if proc is not None and proc.alive():
            os.kill(proc.pid, signal.SIGKILL)
            proc.popen.wait(10)
            proc.stop()
        self.procs[i] = None

    async def restart(self, i: int) -> None:
        self.restarts += 1
        await self.start(i)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc is not None:
                proc.stop()


@contextlib.asynccontextmanager
async def cluster(
    processes: int = 2,
    agents: int = 10,
    capacity: int = 10,
    redis: bool = True,
    settings: dict[str, str] | None = None,
    sqlite: bool = False,
) -> AsyncIterator[Cluster]:
    """Own PostgreSQL (or, with `sqlite`, a SQLite file) (+ Redis), migrated and
    seeded, and `processes` app processes."""
    if sqlite and processes != 1:
        raise ValueError("SQLite serves one process; use PostgreSQL for several")
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="chatdesk-faults-"))
    try:
        async with contextlib.AsyncExitStack() as stack:
            pg = None if sqlite else await stack.enter_async_context(own_postgres())
            database_url = f"sqlite:///{workdir / 'desk.db'}" if pg is None else pg.url
            bus = await stack.enter_async_context(own_redis()) if redis else None
            ports = [free_port() for _ in range(processes)]
            tag = secrets.token_hex(4)
            extra = {
                "DATABASE_URL": database_url,
                "SECRET_KEY": f"faults-{tag}-{secrets.token_hex(24)}",
                "HOST": "127.0.0.1",
                "PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
                "ALLOWED_ORIGINS": ",".join(f"http://127.0.0.1:{p}" for p in ports),
                "RATE_MESSAGES_PER_SECOND": "1000000",
                "RATE_BURST": "1000000",
                "RATE_CHAT_MESSAGES_PER_MINUTE": "1000000",
                "RATE_NEW_CHATS_PER_IP_PER_HOUR": "1000000",
                "LOG_LEVEL": "warning",
                "DESK_TIMEZONE": "UTC",
                **(settings or {}),
            }
            if bus is not None:
                extra["REDIS_URL"] = bus.url
                extra["BUS_PREFIX"] = f"faults-{tag}"
            env = _python_env(extra)
            py = sys.executable
            await asyncio.to_thread(_run, [py, "-m", "chat", "migrate"], env, workdir)
            await asyncio.to_thread(_run, [py, "-m", "chat", "bootstrap"], env, workdir)
            password = secrets.token_urlsafe(12)
            argv = [py, "-m", "bench.server", "seed-agents", "--count", str(agents),
                    "--capacity", str(capacity), "--tag", tag]  # fmt: skip
            out = await asyncio.to_thread(_run, argv, {**env, "AGENT_PASSWORD": password}, workdir)
            seeded = json.loads(out.strip().splitlines()[-1])
            c = Cluster(pg, bus, workdir, env, ports, database_url, procs=[None] * processes)
            c.service_id = int(seeded["service_id"])
            c.logins = [(email, password) for email in seeded["emails"]]
            try:
                await asyncio.gather(*(c.start(i) for i in range(processes)))
                yield c
            finally:
                c.stop_all()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
