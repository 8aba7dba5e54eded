"""Start the servers under test as subprocesses: Chatdesk (`python -m chat serve`) or the relay.

A subprocess, not an in-process app, because the generator must not share the
server's event loop or CPU accounting: the server's CPU is read from its own
`/proc/<pid>/stat`. Chatdesk gets a fresh SQLite file in a temporary directory
(or the `DATABASE_URL`/`REDIS_URL` given), is migrated and bootstrapped with the
real CLI, and gets its agents in one batch (`python -m bench.server seed-agents`):
twenty `python -m chat create-agent` processes would cost half a minute of
imports and argon2 hashes on a 2-core machine, longer than the short profile.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_fd_limit() -> None:
    """Thousands of sockets need thousands of descriptors (the long profile)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 65536
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def raise_fd_limit() -> None:
    """The same for the generator's own process."""
    try:
        _raise_fd_limit()
    except (ValueError, OSError):
        pass


class Process:
    """A child process we started, stopped by its pid only (never by name)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_fd_limit,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.alive():
            self.popen.send_signal(signal.SIGINT)  # uvicorn: graceful shutdown, lifespan end
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode


def _python_env(extra: dict[str, str], app_dir: Path = REPO) -> dict[str, str]:
    """The caller's environment minus database settings; `chat` is imported from `app_dir`
    (another checkout with a patch applied, to measure it), `bench` from this one."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    paths = [str(app_dir), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
    env.update(extra)
    return env


def _run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[1:4])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


async def wait_http(url: str, proc: Process, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during start:\n{proc.log_tail()}")
        try:
            await asyncio.to_thread(_get, url)
            return
        except (OSError, urllib.error.URLError):
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:.0f} s")


async def wait_tcp(port: int, proc: Process, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during start:\n{proc.log_tail()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"{proc.name} did not listen on {port} within {timeout:.0f} s")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return bytes(response.read())


@dataclass
class AgentLogin:
    email: str
    password: str


@dataclass
class ChatdeskServer:
    """`async with ChatdeskServer(agents=20, capacity=10) as server:` — a desk to load.

    `stop_process()` ends the server but keeps the temporary directory (and its SQLite
    file) so the run can be verified from the database afterwards.
    """

    agents: int
    capacity: int
    database_url: str | None = None
    redis_url: str | None = None
    app_dir: Path = REPO
    # Several `serve` processes on one database and one Redis (PostgreSQL + Redis only):
    # the first is `process`/`port`, the others `others`, each on its own port.
    processes: int = 1
    # Copy the servers' logs here on leaving (their directory is removed): the server
    # logs warnings such as a held event loop (chat/loop_watch.py) with their stacks.
    keep_logs: Path | None = None
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    port: int = field(default_factory=free_port)
    workdir: Path = field(init=False)
    process: Process | None = field(init=False, default=None)
    others: list[Process] = field(init=False, default_factory=list)
    other_ports: list[int] = field(init=False, default_factory=list)
    service_id: int = field(init=False, default=0)
    logins: list[AgentLogin] = field(init=False, default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def urls(self, i: int) -> tuple[str, str]:
        """(base URL, websocket URL) of server process `i` (0 is the first)."""
        port = self.port if i == 0 else self.other_ports[i - 1]
        return f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in [self.process, *self.others] if p is not None]

    @property
    def backend(self) -> str:
        db = "sqlite" if self.effective_database_url.startswith("sqlite") else "postgresql"
        return f"{db}+{'redis' if self.redis_url else 'memory-bus'}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.workdir / 'bench.db'}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def __aenter__(self) -> ChatdeskServer:
        self.workdir = Path(tempfile.mkdtemp(prefix="chatdesk-bench-"))
        try:
            await self.start()
        except BaseException:
            self.stop_process()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_process()
        if kind is not None and self.process is not None:
            print(f"--- chatdesk log tail ---\n{self.process.log_tail()}", file=sys.stderr)
        if self.keep_logs is not None:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in self.workdir.glob("*.log"):
                shutil.copy(log, self.keep_logs / f"{self.tag}-{log.name}")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _env(self) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.effective_database_url,
            # Built once per run: every process shares it (a customer token is valid on any).
            "SECRET_KEY": f"bench-{self.tag}-{secrets.token_hex(16)}",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PUBLIC_URL": self.base_url,
            # The generator must measure the server, not its flood limits: every customer
            # comes from 127.0.0.1, and one agent bot speaks for many chats.
            "RATE_MESSAGES_PER_SECOND": "1000000",
            "RATE_BURST": "1000000",
            "RATE_CHAT_MESSAGES_PER_MINUTE": "1000000",
            "RATE_NEW_CHATS_PER_IP_PER_HOUR": "1000000",
            "LOG_LEVEL": "warning",
            "DESK_TIMEZONE": "UTC",
        }
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
            env["BUS_PREFIX"] = f"bench-{self.tag}"
        return _python_env(env, self.app_dir)

    async def start(self) -> None:
        env = self._env()
        py = sys.executable
        await asyncio.to_thread(_run, [py, "-m", "chat", "migrate"], env, self.workdir)
        await asyncio.to_thread(_run, [py, "-m", "chat", "bootstrap"], env, self.workdir)
        password = secrets.token_urlsafe(12)
        out = await asyncio.to_thread(
            _run,
            [
                py,
                "-m",
                "bench.server",
                "seed-agents",
                "--count",
                str(self.agents),
                "--capacity",
                str(self.capacity),
                "--tag",
                self.tag,
            ],
            {**env, "AGENT_PASSWORD": password},
            self.workdir,
        )
        seeded = json.loads(out.strip().splitlines()[-1])
        self.service_id = int(seeded["service_id"])
        self.logins = [AgentLogin(email, password) for email in seeded["emails"]]
        if self.processes > 1 and (self.database_url is None or not self.redis_url):
            raise RuntimeError("several processes need PostgreSQL and Redis")
        self.process = Process("chatdesk", [py, "-m", "chat", "serve"], env, self.workdir)
        for i in range(1, self.processes):
            port = free_port()
            self.other_ports.append(port)
            own = {**env, "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}"}
            argv = [py, "-m", "chat", "serve"]
            self.others.append(Process(f"chatdesk-{i + 1}", argv, own, self.workdir))
        await wait_http(self.base_url + "/api/health", self.process)
        for i, other in enumerate(self.others, start=1):
            await wait_http(self.urls(i)[0] + "/api/health", other)

    def stop_process(self) -> None:
        for other in self.others:
            other.stop()
        if self.process is not None:
            self.process.stop()


@dataclass
class _LoopbackServer:
    """A server we start as a child on a free loopback port and stop by its pid on leaving,
    with a temporary directory for its log (and files) removed then too."""

    name: ClassVar[str]  # its log file, and the prefix of its temporary directory
    port: int = field(default_factory=free_port)
    workdir: Path = field(init=False)
    process: Process | None = field(init=False, default=None)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _launch(self) -> Process:
        """Start the child (in `self.workdir`, listening on `self.port`)."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-bench-"))
        try:
            self.process = self._launch()
            await wait_tcp(self.port, self.process)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class RedisServer(_LoopbackServer):
    """`async with RedisServer() as redis:` — a private redis-server on a free loopback port,
    so its CPU (from /proc) is the bench's alone and nobody else's tests are disturbed."""

    name: ClassVar[str] = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _launch(self) -> Process:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not found")
        argv = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.workdir)]
        return Process(self.name, argv, dict(os.environ), self.workdir)


@dataclass
class RelayServer(_LoopbackServer):
    """`async with RelayServer() as relay:` — the baseline, on a free loopback port."""

    name: ClassVar[str] = "relay"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _launch(self) -> Process:
        argv = [sys.executable, "-m", "bench.baseline_relay", "--port", str(self.port)]
        return Process(self.name, argv, _python_env({}), self.workdir)


@dataclass
class FloorServer(_LoopbackServer):
    """`async with FloorServer(database_url=…, redis_url=…) as floor:` — the relay plus what
    issue 3 requires of a message (bench/floor_relay.py), on a free loopback port."""

    name: ClassVar[str] = "floor"
    database_url: str = ""
    redis_url: str = ""

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _launch(self) -> Process:
        argv = [sys.executable, "-m", "bench.floor_relay", "--port", str(self.port)]
        argv += ["--database-url", self.database_url, "--redis-url", self.redis_url]
        return Process(self.name, argv, _python_env({}), self.workdir)


# ----------------------------------------------------------------- seeding (child process)
async def _seed_agents(count: int, capacity: int, tag: str, password: str) -> dict[str, object]:
    """Create `count` agents of the always-open Support service in one transaction.

    Rows are built like `chat.seed.create_agent` builds them, with one argon2 hash for
    all (same password): hashing is the slow part and not what we measure.
    """
    from sqlalchemy import select

    from chat.auth import hash_password
    from chat.settings import Settings
    from ticketing.db import create_engine, create_sessionmaker, transaction
    from ticketing.models import Agent, AgentRole, Service

    settings = Settings.from_env()
    engine = create_engine(settings.database_url)
    password_hash = await hash_password(password)
    emails = [f"bench-{tag}-{i}@bench.test" for i in range(count)]
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            support = await session.scalar(
                select(Service).where(Service.name == "Support").order_by(Service.id)
            )
            if support is None:
                raise SystemExit("no Support service: run `python -m chat bootstrap` first")
            for i, email in enumerate(emails):
                session.add(
                    Agent(
                        email=email,
                        name=f"Bot {i}",
                        password_hash=password_hash,
                        role=AgentRole.AGENT,
                        capacity=capacity,
                        services=[support],
                    )
                )
            service_id = support.id
    finally:
        await engine.dispose()
    return {"service_id": service_id, "emails": emails}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser(
        "seed-agents", help="create bench agents (password: $AGENT_PASSWORD)"
    )
    seed.add_argument("--count", type=int, required=True)
    seed.add_argument("--capacity", type=int, required=True)
    seed.add_argument("--tag", required=True)
    args = parser.parse_args(argv)
    password = os.environ.get("AGENT_PASSWORD") or ""
    if len(password) < 8:
        raise SystemExit("set AGENT_PASSWORD (8+ characters)")
    result = asyncio.run(_seed_agents(args.count, args.capacity, args.tag, password))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
