// The widget's websocket session (docs/protocol.md, "Widget (customer) frames").
//
// Owns what must survive a dropped connection: the customer token (localStorage),
// the current chat's transcript (what seq to resume from) and the messages sent but
// not yet acknowledged, which are resent with the same client_id after a reconnect.
// The UI gets frames only once: duplicates are dropped here.
import { ReceiptSender } from '../lib/receipts.js';
import { ReconnectingSocket, socketUrl } from '../lib/socket.js';
import { Transcript } from '../lib/transcript.js';

const TOKEN_KEY = 'chatdesk.token';
const IDENTIFIER_KEY = 'chatdesk.identifier';
// `database_unavailable` means "not stored, send again later": wait a little first, then
// resend everything unconfirmed in order (the server refuses what was sent after a
// refused message until that one comes back, so the chat keeps the order it was typed in).
const RESEND_AFTER_OUTAGE_MS = 3_000;
// Close code for "first frame was not hello, or a bad token" (chat/protocol.py).
const WS_1008_POLICY_VIOLATION = 1008;

/**
 * localStorage, or memory when the browser blocks storage in third-party frames (a
 * shop on another site than the desk). Then `mirror(key, value)` is told of every
 * change, so the loader can keep the token in the shop's own storage and hand it
 * back after a reload or on the shop's next page (app.js, static/widget.js).
 */
const storage = (() => {
  const memory = new Map();
  const blocked = (() => {
    try {
      localStorage.setItem('chatdesk.probe', '1');
      localStorage.removeItem('chatdesk.probe');
      return false;
    } catch {
      return true;
    }
  })();
  return {
    blocked,
    mirror: null,
    get(key) {
      if (!blocked) {
        try { return localStorage.getItem(key); } catch { /* full or gone: memory */ }
      }
      return memory.get(key) ?? null;
    },
    /** Remember without telling the mirror (what the mirror itself handed back). */
    seed(key, value) {
      if (blocked) memory.set(key, value);
    },
    set(key, value) {
      memory.set(key, value);
      if (!blocked) {
        try { return localStorage.setItem(key, value); } catch { return undefined; }
      }
      return this.mirror?.(key, value);
    },
    remove(key) {
      memory.delete(key);
      if (!blocked) {
        try { return localStorage.removeItem(key); } catch { return undefined; }
      }
      return this.mirror?.(key, null);
    },
  };
})();

export { storage, TOKEN_KEY };

export class WidgetConnection {
  /**
   * @param {object} options
   *   lang            sent in hello
   *   site            the embedding page's origin, sent in hello (customer tokens are per site)
   *   onFrame(frame, extra)  every frame the UI should see; for `message` extra = {isNew: true},
   *                   for `ack` extra = {entry}
   *   onStatus(status, detail)  'connected' | 'reconnecting' ({retryInMs})
   */
  constructor({ lang, site, onFrame, onStatus }) {
    this.lang = lang;
    this.site = site;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.transcript = null;
    this.welcomed = false;
    this.sentToken = null;
    // delivered/read of the agent's lines, coalesced (docs/protocol.md, "Receipts").
    this.receipts = new ReceiptSender((frame) => this.send(frame));
    this.socket = new ReconnectingSocket(socketUrl('/ws/widget'), {
      onOpen: () => this.hello(),
      onFrame: (frame) => this.receive(frame),
      onDown: (detail) => this.down(detail),
    });
  }

  get token() {
    return storage.get(TOKEN_KEY);
  }

  start() {
    this.socket.start();
  }

  /** Forget the customer (Chatdesk.reset(), or another user logged in) and start afresh. */
  reset() {
    storage.remove(TOKEN_KEY);
    storage.remove(IDENTIFIER_KEY);
    this.transcript = null;
    this.welcomed = false;
    this.socket.stop();
    this.socket.start();
  }

  /**
   * A signed identity from the host site (identifier, timestamp, hash): sent with the
   * next hello, which the server accepts once per connection, so reconnect to present it.
   */
  useSignedUser(user) {
    this.signedUser = user;
    if (this.socket.isOpen()) this.socket.connectNow();
  }

  /** The identity the host page gave with setUser, remembered with the token. */
  get identifier() {
    return storage.get(IDENTIFIER_KEY);
  }

  set identifier(value) {
    storage.set(IDENTIFIER_KEY, value);
  }

  hello() {
    this.welcomed = false;
    this.sentToken = this.token;
    // What we resume from, to notice when the server resumes a different chat.
    this.resumed = {
      chatId: this.transcript?.chatId ?? null,
      lastSeq: this.transcript ? this.transcript.contiguousSeq : 0,
    };
    const hello = { type: 'hello', token: this.sentToken, last_seq: this.resumed.lastSeq, lang: this.lang };
    if (this.site) hello.site = this.site;
    if (this.signedUser) hello.user = this.signedUser;
    this.socket.send(hello);
  }

  down({ code, retryInMs }) {
    this.welcomed = false;
    // A token the server refuses is worthless: come back as a new customer.
    if (code === WS_1008_POLICY_VIOLATION && this.sentToken) storage.remove(TOKEN_KEY);
    this.onStatus('reconnecting', { retryInMs, code });
  }

  /** Send a frame now; false while disconnected (the caller tells the person). */
  send(frame) {
    if (!this.welcomed) return false;
    return this.socket.send(frame);
  }

  /** Send a chat message; shown as "sending" until confirmed (its echo, or an ack), resent after reconnects. */
  sendMessage(body) {
    if (!this.transcript) return null;
    const entry = this.transcript.send(body);
    this.send({ type: 'message', client_id: entry.client_id, body });
    return entry;
  }

  useChat(chatId) {
    if (!this.transcript || this.transcript.chatId !== chatId) {
      this.transcript = new Transcript(chatId);
    }
    return this.transcript;
  }

  receive(frame) {
    switch (frame.type) {
      case 'welcome':
        return this.welcome(frame);
      case 'chat':
        if (frame.chat?.id) this.useChat(frame.chat.id);
        break;
      case 'message':
        return this.message(frame);
      case 'ack': {
        const entry = this.transcript?.ack(frame.client_id, frame.seq);
        return this.onFrame(frame, { entry });
      }
      case 'error':
        if (frame.code === 'bad_token') storage.remove(TOKEN_KEY);
        if (frame.code === 'database_unavailable' && this.transcript?.outgoing.has(frame.ref)) {
          // Not stored: try again soon with the same client_id; the UI keeps "sending".
          this.resendSoon();
          return undefined;
        }
        if (this.transcript?.outgoing.has(frame.ref)) {
          return this.onFrame(frame, { entry: this.transcript.fail(frame.ref) });
        }
        break;
      case 'pong':
        return undefined;
      default:
        break;
    }
    return this.onFrame(frame, {});
  }

  welcome(frame) {
    if (typeof frame.token === 'string' && frame.token) storage.set(TOKEN_KEY, frame.token);
    this.welcomed = true;
    const chat = frame.chat;
    if (chat?.id) {
      const transcript = this.useChat(chat.id);
      // The seq we resumed from belonged to another chat, so the server's replay starts
      // too late for this one: ask for it from the start.
      if (this.resumed.chatId !== chat.id && this.resumed.lastSeq > 0 && chat.last_seq > 0) {
        this.socket.send({ type: 'fetch', after_seq: 0 });
      }
      for (const entry of transcript.unconfirmed()) {
        this.socket.send({ type: 'message', client_id: entry.client_id, body: entry.body });
      }
      this.receipts.known(chat.id, chat.receipts?.customer);
    } else {
      this.transcript = null;
    }
    this.onStatus('connected', {});
    this.onFrame(frame, {});
  }

  message(frame) {
    const transcript = frame.chat_id ? this.useChat(frame.chat_id) : this.transcript;
    if (!transcript) return;
    const { isNew, gapAfter } = transcript.receive(frame);
    if (gapAfter !== null) this.socket.send({ type: 'fetch', after_seq: gapAfter });
    if (isNew) this.receipts.note(transcript.chatId, 'delivered', transcript.contiguousSeq);
    if (isNew) this.onFrame(frame, { isNew });
  }

  /** The chat is on screen: everything received so far has been read. */
  markRead() {
    const transcript = this.transcript;
    if (transcript) this.receipts.note(transcript.chatId, 'read', transcript.contiguousSeq);
  }

  /** One timer for any number of refusals; a reconnect's welcome resends them anyway. */
  resendSoon() {
    if (this.resendTimer) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      if (!this.welcomed || !this.transcript) return;
      for (const entry of this.transcript.unconfirmed()) {
        this.send({ type: 'message', client_id: entry.client_id, body: entry.body });
      }
    }, RESEND_AFTER_OUTAGE_MS);
  }
}
