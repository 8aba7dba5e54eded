"""The two socket paths go straight to their endpoints (chat/app.py, `Chatdesk`)."""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from chat.app import SOCKETS, Chatdesk, create_app
from chat.settings import Settings
from tests.support import LiveDesk


def _recording_middleware(app: Chatdesk, seen: list[tuple[str, str]]) -> None:
    """Replace the app's middleware stack by one that notes every scope it gets."""
    inner = app.middleware_stack or app.build_middleware_stack()

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["type"], scope["path"]))
        await inner(scope, receive, send)

    app.middleware_stack = recording


async def test_sockets_skip_the_middleware_stack_and_http_requests_do_not(desk: LiveDesk) -> None:
    app = desk.server.config.app
    assert isinstance(app, Chatdesk)
    seen: list[tuple[str, str]] = []
    _recording_middleware(app, seen)
    bea = await desk.agent("Bea")  # signs in over HTTP, then opens the console's socket
    ana = await desk.customer()
    await bea.take(ana)
    await ana.say("hello")
    await bea.expect("message", lambda f: f["body"] == "hello")
    assert any(kind == "http" for kind, _ in seen)
    assert [scope for scope in seen if scope[0] == "websocket"] == []


async def test_other_socket_paths_and_a_root_path_go_through_starlette() -> None:
    """Starlette strips a root path before routing; the shortcut leaves that to it, and a
    path it does not know is Starlette's to refuse."""
    app = create_app(Settings(secret_key="x" * 40))
    seen: list[tuple[str, str]] = []
    reached: list[str] = []

    async def endpoint(websocket: WebSocket) -> None:
        reached.append(websocket.url.path)

    app.sockets = {path: endpoint for path in SOCKETS}

    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["type"], scope["path"]))

    app.middleware_stack = record

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        return None

    def scope(path: str, root_path: str = "") -> dict[str, Any]:
        return {"type": "websocket", "path": path, "root_path": root_path, "headers": []}

    await app(scope("/ws/widget"), receive, send)
    await app(scope("/ws/console"), receive, send)
    await app(scope("/ws/other"), receive, send)
    await app(scope("/desk/ws/widget", root_path="/desk"), receive, send)
    assert reached == ["/ws/widget", "/ws/console"]
    assert seen == [("websocket", "/ws/other"), ("websocket", "/desk/ws/widget")]
