// One chat's transcript as a client sees it: stored messages by `seq`, and the
// messages this client has sent that the server has not yet confirmed.
//
// Implements the client half of "Persist, then deliver" and "Idempotence" in
// docs/protocol.md: de-duplicate by seq, notice gaps, resume from the highest seq
// below which nothing is missing, and resend unconfirmed messages with the same
// client_id (the server stores each client_id once).

// Don't ask for the same gap again within this window: the first fetch is probably
// still being answered.
const FETCH_DEBOUNCE_MS = 3_000;

export class Transcript {
  constructor(chatId) {
    this.chatId = chatId;
    this.bySeq = new Map();
    /** Highest seq such that 1..seq are all here: what we resume from. */
    this.contiguousSeq = 0;
    this.maxSeq = 0;
    /** client_id -> {client_id, body, status: 'sending'|'sent'|'failed', seq} */
    this.outgoing = new Map();
    this.lastFetch = { after: -1, at: 0 };
  }

  /**
   * Take a `message` frame. Returns {isNew, gapAfter}: isNew false for a duplicate;
   * gapAfter = the seq to fetch after when messages are missing, else null.
   */
  receive(message) {
    const seq = message.seq;
    if (!Number.isInteger(seq) || seq < 1 || this.bySeq.has(seq)) {
      return { isNew: false, gapAfter: null };
    }
    this.bySeq.set(seq, message);
    this.maxSeq = Math.max(this.maxSeq, seq);
    while (this.bySeq.has(this.contiguousSeq + 1)) this.contiguousSeq += 1;
    const own = message.client_id ? this.outgoing.get(message.client_id) : null;
    if (own) {
      own.status = 'sent';
      own.seq = seq;
    }
    return { isNew: true, gapAfter: this.gapToFetch() };
  }

  /** The seq to fetch after, if something is missing and we haven't just asked. */
  gapToFetch(now = Date.now()) {
    if (this.maxSeq <= this.contiguousSeq) return null;
    const after = this.contiguousSeq;
    if (this.lastFetch.after === after && now - this.lastFetch.at < FETCH_DEBOUNCE_MS) return null;
    this.lastFetch = { after, at: now };
    return after;
  }

  /** Register a message being sent now; returns its outgoing entry. */
  send(body) {
    const entry = { client_id: newClientId(), body, status: 'sending', seq: null };
    this.outgoing.set(entry.client_id, entry);
    return entry;
  }

  /** The server stored our message: returns the entry, or null for an unknown id. */
  ack(clientId, seq) {
    const entry = this.outgoing.get(clientId);
    if (!entry) return null;
    entry.status = 'sent';
    entry.seq = seq;
    return entry;
  }

  fail(clientId) {
    const entry = this.outgoing.get(clientId);
    if (entry) entry.status = 'failed';
    return entry || null;
  }

  /** Messages sent but never confirmed: resend these after a reconnect. */
  unconfirmed() {
    return [...this.outgoing.values()].filter((entry) => entry.seq === null && entry.status === 'sending');
  }

  /** Stored messages in order. */
  messages() {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
}

export function newClientId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; 127.0.0.1 and https have one, but a
  // plain-http intranet host does not. getRandomValues works everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
