"""permessage-deflate without context takeover: frames compressed, no zlib state kept
between messages, and short frames sent as they are (chat/ws_protocol.py;
docs/performance.md, "Capacity")."""

from __future__ import annotations

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame

from chat.ws_protocol import PLAIN_BELOW_BYTES
from tests.support import LiveDesk, Peer


def negotiated(peer: Peer) -> str:
    assert peer.ws is not None and peer.ws.response is not None
    return peer.ws.response.headers.get("Sec-WebSocket-Extensions", "")


def compressed_frames(peer: Peer) -> list[tuple[bool, int]]:
    """From now on, whether each data frame the peer receives was compressed (RSV1), and
    its length once decoded."""
    assert peer.ws is not None
    (deflate,) = peer.ws.protocol.extensions
    assert isinstance(deflate, PerMessageDeflate)
    seen: list[tuple[bool, int]] = []
    decode = deflate.decode

    def recording(frame: Frame, *, max_size: int | None = None) -> Frame:
        decoded = decode(frame, max_size=max_size)
        if frame.opcode.name in ("TEXT", "BINARY"):
            seen.append((frame.rsv1, len(decoded.data)))
        return decoded

    deflate.decode = recording  # type: ignore[method-assign]
    return seen


async def test_a_chat_both_ways_over_deflate_without_context_takeover(desk: LiveDesk) -> None:
    bea = await desk.agent("Bea")
    ana = await desk.customer()
    for peer in (ana, bea):  # the websockets client offers permessage-deflate, as browsers do
        extensions = negotiated(peer)
        assert extensions.startswith("permessage-deflate"), extensions
        assert "server_no_context_takeover" in extensions, extensions
        assert "client_no_context_takeover" in extensions, extensions
        assert peer.ws is not None
        (deflate,) = peer.ws.protocol.extensions
        assert isinstance(deflate, PerMessageDeflate)
        assert deflate.local_no_context_takeover and deflate.remote_no_context_takeover
    to_ana, to_bea = compressed_frames(ana), compressed_frames(bea)

    chat = await bea.take(ana, message="Hi, my invoice is wrong")
    await bea.expect("message", lambda f: f["body"] == "Hi, my invoice is wrong")
    await bea.say(chat["id"], "Hello Ana, let me look.")
    await ana.message("Hello Ana, let me look.")
    ack = await ana.say("Thanks! " * 80)
    assert (await bea.expect("message", lambda f: f["body"] == "Thanks! " * 80))["seq"] == ack[
        "seq"
    ]
    # Every long frame the server sent was compressed, each message on its own; the short
    # ones went as they were, and the client read both.
    for seen in (to_ana, to_bea):
        assert [size for rsv1, size in seen if rsv1 != (size >= PLAIN_BELOW_BYTES)] == []
        assert any(rsv1 for rsv1, _ in seen) and not all(rsv1 for rsv1, _ in seen), seen
