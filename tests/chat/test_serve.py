"""`chatdesk serve` as deployed: the real CLI in its own process, its settings applied."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from bench.server import Process, _python_env, free_port, wait_http
from chat.migrate import upgrade


@pytest.mark.parametrize("deflate", ["true", "false"])
async def test_permessage_deflate_follows_its_setting(tmp_path: Path, deflate: str) -> None:
    """A browser offering compression gets it without context takeover either way (no zlib
    state kept while a socket is idle, docs/performance.md), and none when the setting
    is false."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}"
    await asyncio.to_thread(upgrade, database_url)  # Alembic runs its own event loop
    port = free_port()
    env = _python_env(
        {
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WS_PER_MESSAGE_DEFLATE": deflate,
            "LOG_LEVEL": "warning",
        }
    )
    env.pop("REDIS_URL", None)
    proc = Process("serve", [sys.executable, "-m", "chat", "serve"], env, tmp_path)
    try:
        await wait_http(f"http://127.0.0.1:{port}/widget.js", proc, timeout=60)
        async with connect(
            f"ws://127.0.0.1:{port}/ws/widget",
            origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
            compression="deflate",
        ) as ws:
            assert ws.response is not None
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    finally:
        proc.stop()
    assert ("permessage-deflate" in negotiated) is (deflate == "true"), negotiated
    if deflate == "true":
        assert "server_no_context_takeover" in negotiated, negotiated
        assert "client_no_context_takeover" in negotiated, negotiated


def test_serve_tunes_the_garbage_collector_before_taking_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Start-up's objects frozen, a larger young generation and middle collections that
    keep up with it, so no collection holds the loop long under load (chat/gc_tuning.py)."""
    import uvicorn

    from chat import cli, gc_tuning
    from chat.settings import Settings

    order: list[str] = []
    monkeypatch.setattr(gc_tuning, "tune_for_serving", lambda: order.append("tuned"))
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: order.append("served"))
    cli._serve(Settings(secret_key="x" * 40))
    assert order == ["tuned", "served"]


def test_the_garbage_collector_tuning_itself() -> None:
    """In a process of its own: freezing is for a whole serving process, not the suite's."""
    code = (
        "import gc; from chat.gc_tuning import tune_for_serving, "
        "YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD; "
        "import chat.app; tune_for_serving(); "
        "print(gc.get_threshold() == (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD), "
        "gc.get_freeze_count() > 10_000)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=_python_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["True", "True"], done.stderr
