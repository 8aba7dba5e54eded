// Renders one chat's messages into a log element, in seq order, one element per
// message. Messages being sent (no seq yet) sit at the end, keyed by client_id, and
// move into place when the server's copy arrives. Bodies and names are text only.
import { h, isNearBottom } from './dom.js';
import { formatTime, hasKey, t } from '../i18n.js';

const STATUS_KEYS = { sending: 'message.sending', sent: 'message.sent', failed: 'message.failed' };

// System lines carry a translation key (docs/protocol.md): each viewer reads them in
// their own language; the English body is the fallback for an unknown key.
function bodyText(message, sender) {
  const i18n = message.i18n;
  if (sender === 'system' && i18n && typeof i18n.key === 'string' && hasKey(i18n.key)) {
    return t(i18n.key, i18n.params && typeof i18n.params === 'object' ? i18n.params : {});
  }
  return message.body ?? '';
}

export class MessageList {
  /**
   * @param {HTMLElement} el   the role="log" container
   * @param {object} options
   *   mine: the `sender` whose messages are "ours" (right-aligned, with a status)
   *   ownName: author name for our own messages sent before the server echoes them
   */
  constructor(el, { mine, ownName = '' }) {
    this.el = el;
    this.mine = mine;
    this.ownName = ownName;
  }

  clear() {
    this.el.replaceChildren();
  }

  /** A stored message (a `message` frame). */
  addStored(message) {
    const stick = isNearBottom(this.el);
    let item = message.client_id ? this.findByClientId(message.client_id) : null;
    if (item) {
      this.setStatus(item, 'sent');
    } else {
      if (this.el.querySelector(`[data-seq="${Number(message.seq)}"]`)) return;
      item = this.render(message);
    }
    item.dataset.seq = String(message.seq);
    this.place(item, message.seq);
    if (stick) this.scrollToEnd();
  }

  /** Our own message, shown at once while it is being sent. */
  addOutgoing(entry) {
    const item = this.render({
      sender: this.mine,
      author_name: this.ownName,
      body: entry.body,
      client_id: entry.client_id,
      created_at: new Date().toISOString(),
    });
    this.setStatus(item, entry.status);
    this.el.append(item);
    this.scrollToEnd();
  }

  /** Update the status shown for our message (sending → sent, or failed). */
  updateOutgoing(entry) {
    const item = this.findByClientId(entry.client_id);
    if (!item) return;
    this.setStatus(item, entry.status);
    if (entry.seq) {
      item.dataset.seq = String(entry.seq);
      this.place(item, entry.seq);
    }
  }

  findByClientId(clientId) {
    for (const item of this.el.children) {
      if (item.dataset.clientId === clientId) return item;
    }
    return null;
  }

  render(message) {
    const sender = ['customer', 'agent', 'system'].includes(message.sender) ? message.sender : 'system';
    const side = sender === 'system' ? 'system' : sender === this.mine ? 'mine' : 'theirs';
    const item = h('div', { class: `cd-msg cd-msg--${side} cd-msg--${sender}` });
    if (message.client_id) item.dataset.clientId = message.client_id;
    if (side === 'theirs' && message.author_name) {
      item.append(h('div', { class: 'cd-msg__author', text: message.author_name }));
    }
    item.append(h('div', { class: 'cd-msg__body', text: bodyText(message, sender) }));
    if (side !== 'system') {
      const meta = h('div', { class: 'cd-msg__meta' });
      if (message.created_at) {
        meta.append(h('time', { datetime: message.created_at, text: formatTime(message.created_at) }));
      }
      if (side === 'mine') meta.append(h('span', { class: 'cd-msg__status' }));
      item.append(meta);
    }
    return item;
  }

  setStatus(item, status) {
    const el = item.querySelector('.cd-msg__status');
    if (!el) return;
    item.dataset.status = status;
    el.textContent = STATUS_KEYS[status] ? t(STATUS_KEYS[status]) : '';
  }

  /** Move `item` to its place: after every message with a lower seq. */
  place(item, seq) {
    let before = null;
    for (const other of this.el.children) {
      if (other === item) continue;
      const otherSeq = other.dataset.seq ? Number(other.dataset.seq) : Infinity;
      if (otherSeq > seq) {
        before = other;
        break;
      }
    }
    if (before) {
      if (item.nextSibling !== before) this.el.insertBefore(item, before);
    } else if (item.parentNode !== this.el || item !== this.el.lastElementChild) {
      this.el.append(item);
    }
  }

  scrollToEnd() {
    this.el.scrollTop = this.el.scrollHeight;
  }
}
