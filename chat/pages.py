"""The browser pages: widget loader and frame, console, demo, survey — with strict headers.

No page runs inline script or style, so every page gets a strict Content-Security-
Policy. Only the widget frame may be embedded, and only by the allowed sites.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from chat.auth import allowed_origins
from chat.runtime import Runtime

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def content_security_policy(frame_ancestors: str = "'none'") -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "connect-src 'self' ws: wss:",
            "media-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def _page(name: str, frame_ancestors: str = "'none'") -> Response:
    response = FileResponse(STATIC_DIR / name, media_type="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy(frame_ancestors)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-cache"
    return response


async def index(request: Request) -> Response:
    return RedirectResponse("/demo")


async def demo(request: Request) -> Response:
    # The demo page hosts the widget frame, so it may frame our own origin.
    return _page("demo.html")


async def console(request: Request) -> Response:
    return _page("console/index.html")


async def portal(request: Request) -> Response:
    return _page("portal/index.html")


async def survey(request: Request) -> Response:
    return _page("survey.html")


async def widget_frame(request: Request) -> Response:
    """The chat UI inside the iframe; only allowed sites (environment or Admin) may embed it."""
    runtime: Runtime = request.app.state.runtime
    origins = allowed_origins(runtime.settings, runtime.widget.origins)
    site = request.query_params.get("origin", runtime.settings.origin)
    if site not in origins:
        return PlainTextResponse(
            f"This site ({site[:100]}) is not allowed to embed the chat. An admin can add it "
            "in the console (Admin → Widget) or to ALLOWED_ORIGINS.",
            status_code=403,
        )
    return _page("widget/frame.html", " ".join(sorted(origins)))


async def widget_loader(request: Request) -> Response:
    response = FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def translations(request: Request) -> Response:
    """Translation files, readable by the loader from any site (they hold no secrets)."""
    name = request.path_params["name"]
    path = STATIC_DIR / "i18n" / name
    if name not in {p.name for p in (STATIC_DIR / "i18n").glob("*.json")}:
        return PlainTextResponse("No such language.", status_code=404)
    response = FileResponse(path, media_type="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


routes = [
    Route("/", index),
    Route("/demo", demo),
    Route("/console", console),
    Route("/survey", survey),
    Route("/portal", portal),
    Route("/widget", widget_frame),
    Route("/widget.js", widget_loader),
    Route("/static/i18n/{name}", translations),
    Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
]
