"""An external ticket system receiving Chatdesk's converted chats — a complete webhook receiver.

Standard library only, so it can be copied into any project. It:

1. reads the raw body and the `X-Chatdesk-Signature: t=<unix>,v1=<hex>` header;
2. recomputes HMAC-SHA256(secret, f"{t}.{body}") and compares in constant time;
3. refuses a timestamp more than five minutes from its own clock (a replay);
4. skips an event id it has already stored (deliveries are at-least-once);
5. for `ticket.created` with origin `chat`, stores the ticket and its whole transcript
   as one JSON line in `--store` — this is where your ticket system takes over.

Run:  python docs/examples/receiver.py --port 9000 --secret whsec_… --store chats.jsonl
and register `http://<host>:9000/chatdesk` in Chatdesk (`POST /api/admin/webhooks`).
tests/ticketing/test_webhooks.py runs this file against a real Chatdesk delivery.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 5 * 1024 * 1024


def signature_is_valid(secret: str, header: str, body: bytes, now: float) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


def ticket_record(event: dict[str, Any]) -> dict[str, Any]:
    """What the external system keeps of a converted chat."""
    data = event["data"]
    ticket = data["ticket"]
    return {
        "event_id": event["id"],
        "chatdesk_ticket_id": ticket["id"],
        "chat_id": data["chat"]["id"],
        "subject": ticket["subject"],
        "status": ticket["status"],
        "requester": ticket["requester"],
        "transcript": [
            {
                "at": m["created_at"],
                "from": m["author_type"],
                "name": m["author_name"],
                "text": m["body"],
            }
            for m in data["messages"]
        ],
    }


class Receiver(BaseHTTPRequestHandler):
    secret = ""
    store = Path("chats.jsonl")
    seen: set[str] = set()
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self._answer(413, "too large")
        body = self.rfile.read(length)
        header = self.headers.get("X-Chatdesk-Signature", "")
        if not signature_is_valid(self.secret, header, body, time.time()):
            return self._answer(401, "bad signature")
        event = json.loads(body)
        with self.lock:
            if event["id"] in self.seen:
                return self._answer(200, "already stored")
            self.seen.add(event["id"])
            if event["type"] == "ticket.created" and event["data"].get("origin") == "chat":
                with self.store.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(ticket_record(event), ensure_ascii=False) + "\n")
        return self._answer(200, "stored")

    def _answer(self, status: int, text: str) -> None:
        payload = json.dumps({"result": text}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write("receiver: " + format % args + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", default=os.environ.get("CHATDESK_WEBHOOK_SECRET", ""))
    parser.add_argument("--store", type=Path, default=Path("chats.jsonl"))
    args = parser.parse_args()
    if not args.secret:
        sys.exit("Give the endpoint's secret: --secret or $CHATDESK_WEBHOOK_SECRET.")
    Receiver.secret, Receiver.store = args.secret, args.store
    server = ThreadingHTTPServer((args.host, args.port), Receiver)
    print(f"listening on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
