"""What one small transaction costs through each layer between Chatdesk and SQLite.

    python -m bench.sqlite_layers

The same transaction (read a counter, bump it, insert a row: the shape of storing a
chat message) run 1,000 times four ways, CPU time of the whole process (all threads):

* `sqlite3` directly, in this thread;
* SQLAlchemy Core on the `sqlite+aiosqlite` engine: every DBAPI call (cursor, execute,
  fetch, close, commit) is a hop to aiosqlite's thread and back (the app until
  2026-11-24);
* SQLAlchemy Core on the app's engine today, `sqlite3` on the event loop
  (ticketing/sqlite_inline.py);
* the same three statements handed to aiosqlite's thread in ONE hop.

The gap between the first and the second is what the async stack's thread hops cost,
not SQLite; between the first and the third, what SQLAlchemy Core itself costs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ticketing.sqlite_inline import inline_url

N = 1000
SCHEMA = (
    "CREATE TABLE t (id INTEGER PRIMARY KEY, chat INT, body TEXT)",
    "CREATE TABLE k (id INTEGER PRIMARY KEY, n INT)",
    "INSERT INTO k VALUES (1, 0)",
)
READ = "SELECT n FROM k WHERE id = 1"
BUMP = "UPDATE k SET n = n + 1 WHERE id = 1"
INSERT = "INSERT INTO t (chat, body) VALUES (1, 'hello')"


def direct(path: str) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for statement in SCHEMA:
        db.execute(statement)
    cpu = time.process_time()
    for _ in range(N):
        db.execute("BEGIN")
        db.execute(READ).fetchall()
        db.execute(BUMP)
        db.execute(INSERT)
        db.execute("COMMIT")
    db.close()
    return (time.process_time() - cpu) * 1e6 / N


async def _engine_with_schema(url: str) -> AsyncEngine:
    """One pooled connection, WAL and synchronous=NORMAL as the app has them, the tables."""
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    async with engine.begin() as conn:
        await conn.execute(text("PRAGMA journal_mode=WAL"))
        await conn.execute(text("PRAGMA synchronous=NORMAL"))
        for statement in SCHEMA:
            await conn.execute(text(statement))
    return engine


async def through_sqlalchemy(url: str) -> float:
    engine = await _engine_with_schema(url)
    cpu = time.process_time()
    for _ in range(N):
        async with engine.begin() as conn:
            await conn.execute(text(READ))
            await conn.execute(text(BUMP))
            await conn.execute(text(INSERT))
    layered = (time.process_time() - cpu) * 1e6 / N
    await engine.dispose()
    return layered


async def in_one_hop(path: str) -> float:
    engine = await _engine_with_schema(f"sqlite+aiosqlite:///{path}")
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        aio: Any = raw.driver_connection  # aiosqlite.Connection

        def work() -> None:
            db = aio._conn  # private: the sqlite3 connection aiosqlite's thread owns
            db.execute(READ).fetchall()
            db.execute(BUMP)
            db.execute(INSERT)
            db.commit()

        cpu = time.process_time()
        for _ in range(N):
            await aio._execute(work)  # private: run one function on aiosqlite's thread
        one_hop = (time.process_time() - cpu) * 1e6 / N
    await engine.dispose()
    return one_hop


async def measure(tmp: str) -> tuple[float, float, float]:
    layered = await through_sqlalchemy(f"sqlite+aiosqlite:///{tmp}/layered.db")
    inline = await through_sqlalchemy(inline_url(f"sqlite:///{tmp}/inline.db"))
    return layered, inline, await in_one_hop(f"{tmp}/one-hop.db")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sqlite-layers-") as tmp:
        raw = direct(f"{tmp}/direct.db")
        try:
            import uvloop

            layered, inline, one_hop = uvloop.run(measure(tmp))
        except ImportError:
            layered, inline, one_hop = asyncio.run(measure(tmp))
    print("| one transaction (read, update, insert, commit) | CPU µs |")
    print("|---|---:|")
    print(f"| sqlite3 directly | {raw:,.0f} |")
    print(f"| SQLAlchemy Core + aiosqlite | {layered:,.0f} |")
    print(f"| SQLAlchemy Core + sqlite3 on the loop (as the app runs it) | {inline:,.0f} |")
    print(f"| the same statements in one aiosqlite hop | {one_hop:,.0f} |")


if __name__ == "__main__":
    main()
