// A websocket that reconnects by itself: backoff from 0.5 s doubling to 10 s with
// jitter, a keep-alive ping every 25 s (docs/protocol.md "Keep-alive"), and a watchdog
// that drops a connection that has gone silent so that the backoff can start over.
//
// It knows nothing about Chatdesk frames beyond `ping`: the caller sends `hello` in
// onOpen and decides, from the close code, whether reconnecting makes sense.

// First retry is quick: most drops are a blip (a proxy restart, a laptop waking up).
const FIRST_RETRY_MS = 500;
// Cap the wait so a visitor is back within ~10 s of the server returning.
const MAX_RETRY_MS = 10_000;
// The protocol asks clients to ping every 25 s (below common 30 s proxy idle timeouts).
const PING_INTERVAL_MS = 25_000;
// Two missed pongs and a bit: the connection is dead even if the browser hasn't noticed.
const SILENCE_LIMIT_MS = 2 * PING_INTERVAL_MS + 10_000;

/** ws(s)://<this host><path>, matching the page's scheme. */
export function socketUrl(path) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

/** Delay before reconnect attempt number `attempt` (0-based), with jitter. */
export function retryDelay(attempt, random = Math.random) {
  const nominal = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  // ±20 % jitter, so that a thousand widgets dropped by the same server restart don't
  // all come back in the same millisecond; never more than the cap.
  return Math.round(Math.min(MAX_RETRY_MS, nominal * (0.8 + 0.4 * random())));
}

export class ReconnectingSocket {
  /**
   * @param {string} url
   * @param {object} handlers
   *   onOpen(socket)           connected: send `hello` now
   *   onFrame(frame)           a parsed JSON object from the server
   *   onDown({code, retryInMs}) the connection dropped; retryInMs null = not retrying
   *   shouldReconnect(code)    return false to stay closed (e.g. 4401 logged out)
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.connectedOnce = false;
    this.onOnline = () => { if (!this.stopped && !this.isOpen()) this.connectNow(); };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener('online', this.onOnline);
    this.connectNow();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a frame; returns false (and sends nothing) while disconnected. */
  send(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  connectNow() {
    clearTimeout(this.retryTimer);
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.close(1000);
    }
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry(1006);
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepAlive(), PING_INTERVAL_MS);
      this.handlers.onOpen?.(this);
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // the server only sends JSON; ignore anything else rather than crash
      }
      if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') return;
      // A frame means the server accepted us: the next drop starts the backoff afresh.
      this.attempt = 0;
      this.handlers.onFrame?.(frame);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      if (this.stopped) return;
      this.scheduleRetry(event.code);
    });
  }

  scheduleRetry(code) {
    const wanted = this.handlers.shouldReconnect ? this.handlers.shouldReconnect(code) : true;
    if (!wanted) {
      this.stopped = true;
      this.handlers.onDown?.({ code, retryInMs: null });
      return;
    }
    const delay = retryDelay(this.attempt);
    this.attempt += 1;
    this.handlers.onDown?.({ code, retryInMs: delay });
    this.retryTimer = setTimeout(() => this.connectNow(), delay);
  }

  keepAlive() {
    if (!this.isOpen()) return;
    if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
      // A dead connection may take minutes to report 'close'; let go of it now.
      const dead = this.ws;
      this.ws = null;
      clearInterval(this.pingTimer);
      dead.close(4000);
      this.scheduleRetry(1006);
      return;
    }
    this.send({ type: 'ping' });
  }
}
