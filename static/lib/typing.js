// Typing notifications, both ways.
//
// Outgoing: tell the other side "typing" at most every few seconds while keys are
// pressed, and "stopped" after a short idle, so a chatty keyboard doesn't become a
// stream of frames (the server rate-limits those).

// Re-announce at most this often while typing continues (the other side's indicator
// expires after INDICATOR_TIMEOUT_MS, so this must be well below that).
const REFRESH_MS = 2_000;
// No key for this long means the person stopped typing.
const IDLE_MS = 3_000;
// An indicator with no news for this long is hidden, in case the "stopped" frame
// was lost with a dropped connection.
const INDICATOR_TIMEOUT_MS = 6_000;

export class TypingNotifier {
  /** @param {(isTyping: boolean) => void} send */
  constructor(send) {
    this.sendFrame = send;
    this.typing = false;
    this.lastSent = 0;
    this.idleTimer = null;
  }

  /** Call on every input event of the composer. */
  input() {
    const now = Date.now();
    if (!this.typing || now - this.lastSent > REFRESH_MS) {
      this.typing = true;
      this.lastSent = now;
      this.sendFrame(true);
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), IDLE_MS);
  }

  /** Call when the message is sent or the composer is left. */
  stop() {
    clearTimeout(this.idleTimer);
    if (!this.typing) return;
    this.typing = false;
    this.lastSent = 0;
    this.sendFrame(false);
  }
}

/** Shows "<name> is typing…" in `el`, hiding it by itself if the news goes stale. */
export class TypingIndicator {
  constructor(el) {
    this.el = el;
    this.timer = null;
    this.hide();
  }

  show(text) {
    this.el.textContent = text;
    this.el.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), INDICATOR_TIMEOUT_MS);
  }

  hide() {
    clearTimeout(this.timer);
    this.el.textContent = '';
    this.el.hidden = true;
  }
}
