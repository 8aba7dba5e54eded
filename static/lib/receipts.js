// Delivered and read receipts, coalesced (docs/protocol.md, "Receipts").
//
// A busy chat would otherwise send a receipt per message per side; here each chat
// sends at most one `delivered`/`read` every RECEIPT_INTERVAL_MS, and only when the seq
// rises. `read` implies `delivered` on the server, so when both rose only `read` goes.

// Fast enough that "Read" shows while the sender still looks, slow enough that a burst
// of messages costs one frame (the server writes receipts about once a second anyway).
const RECEIPT_INTERVAL_MS = 400;
const KINDS = ['delivered', 'read'];

export class ReceiptSender {
  /**
   * @param {(frame: object) => boolean} send  false when the frame could not go out
   *   (disconnected): it is sent with the next receipt, or after `known()` on reconnect.
   */
  constructor(send, { intervalMs = RECEIPT_INTERVAL_MS } = {}) {
    this.send = send;
    this.intervalMs = intervalMs;
    this.chats = new Map();
  }

  chat(chatId) {
    let entry = this.chats.get(chatId);
    if (!entry) {
      entry = { sent: { delivered: 0, read: 0 }, wanted: { delivered: 0, read: 0 }, timer: null, last: 0 };
      this.chats.set(chatId, entry);
    }
    return entry;
  }

  /** We have received (`delivered`) or shown (`read`) the chat's lines up to `seq`. */
  note(chatId, kind, seq) {
    if (!KINDS.includes(kind) || !Number.isInteger(seq) || seq < 1 || !chatId) return;
    const entry = this.chat(chatId);
    if (seq <= entry.wanted[kind]) return;
    entry.wanted[kind] = seq;
    if (kind === 'read') entry.wanted.delivered = Math.max(entry.wanted.delivered, seq);
    this.schedule(chatId, entry);
  }

  /** What the server already has for our side (a snapshot's receipts): never resend it. */
  known(chatId, receipts) {
    if (!chatId || !receipts) return;
    const entry = this.chat(chatId);
    for (const kind of KINDS) {
      const seq = Number(receipts[`${kind}_seq`]) || 0;
      entry.sent[kind] = Math.max(entry.sent[kind], seq);
      entry.wanted[kind] = Math.max(entry.wanted[kind], seq);
    }
    // Anything noted while we were away goes out now that we are back.
    this.schedule(chatId, entry);
  }

  forget(chatId) {
    const entry = this.chats.get(chatId);
    if (entry) clearTimeout(entry.timer);
    this.chats.delete(chatId);
  }

  schedule(chatId, entry) {
    if (entry.timer) return;
    if (entry.wanted.delivered <= entry.sent.delivered && entry.wanted.read <= entry.sent.read) return;
    const wait = Math.max(0, entry.last + this.intervalMs - Date.now());
    entry.timer = setTimeout(() => {
      entry.timer = null;
      this.flush(chatId, entry);
    }, wait);
  }

  flush(chatId, entry) {
    entry.last = Date.now();
    const { wanted, sent } = entry;
    if (wanted.read > sent.read) {
      if (!this.send({ type: 'read', chat_id: chatId, seq: wanted.read })) return;
      sent.read = wanted.read;
      sent.delivered = Math.max(sent.delivered, wanted.read);
    }
    if (wanted.delivered > sent.delivered) {
      if (!this.send({ type: 'delivered', chat_id: chatId, seq: wanted.delivered })) return;
      sent.delivered = wanted.delivered;
    }
  }
}
