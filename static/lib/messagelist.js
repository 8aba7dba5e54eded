// Renders one chat's messages into a log element, in seq order, one element per
// message. Messages being sent (no seq yet) sit at the end, keyed by client_id, and
// move into place when the server's copy arrives. Bodies and names are text only.
// Our own stored messages show sent → delivered → read from the other side's receipts
// (docs/protocol.md, "Receipts"); files show as an image or a download link.
import { h, isNearBottom } from './dom.js';
import { formatNumber, formatTime, hasKey, t } from '../i18n.js';

const STATUS_KEYS = {
  sending: 'message.sending',
  sent: 'message.sent',
  delivered: 'message.delivered',
  read: 'message.read',
  failed: 'message.failed',
};
// What the server serves inline (ticketing/attachments.py INLINE_TYPES); never SVG.
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** "830 B", "12 KB", "1.4 MB" in the reader's number format. */
export function fileSize(bytes) {
  const size = Number(bytes) || 0;
  if (size < 1024) return t('file.size_bytes', { size: formatNumber(size) });
  if (size < 1024 * 1024) return t('file.size_kb', { size: formatNumber(Math.round(size / 1024)) });
  return t('file.size_mb', { size: formatNumber(Math.round((size / (1024 * 1024)) * 10) / 10) });
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  file: 'M14 3H7a2 2 0 00-2 2v14a2 2 0 002 2h10a2 2 0 002-2V8zM14 3v5h5M9 13h6M9 17h6',
  attach: 'M16.5 6.5l-7.8 7.8a2 2 0 002.8 2.8l8-8a4 4 0 00-5.6-5.6l-8.2 8.2a6 6 0 008.5 8.5l7.3-7.3',
};

/** A line icon (decorative: hidden from screen readers, the text next to it says it). */
export function icon(name, className = 'cd-icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', className);
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

/** Only our own API's paths: a frame can never make us link elsewhere. */
function fileUrl(attachment) {
  const url = String(attachment?.url ?? '');
  return /^\/api\/chats\/\d+\/attachments\/\d+$/.test(url) ? url : null;
}

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
   *   imageUrl(attachment) → Promise<url>: where to load an image from (the widget
   *     fetches with its token; default: the attachment's own URL, for cookie sessions)
   *   download(attachment): save a file (default: a plain link does it)
   */
  constructor(el, { mine, ownName = '', imageUrl = null, download = null }) {
    this.el = el;
    this.mine = mine;
    this.ownName = ownName;
    this.imageUrl = imageUrl || ((attachment) => Promise.resolve(fileUrl(attachment)));
    this.download = download;
    /** The other side's receipts: how far they have received and read. */
    this.receipts = { delivered_seq: 0, read_seq: 0 };
  }

  clear() {
    this.el.replaceChildren();
  }

  /** A stored message (a `message` frame). */
  addStored(message) {
    const stick = isNearBottom(this.el);
    let item = message.client_id ? this.findByClientId(message.client_id) : null;
    if (item) {
      // Our file, shown by name while it uploaded: now it can be shown as what it is.
      if (message.attachment && !item.dataset.attachment) {
        item.querySelector('.cd-msg__body')?.replaceWith(this.renderBody(message, message.sender));
        item.dataset.attachment = String(message.attachment.id);
      }
      item.dataset.seq = String(message.seq);
      this.setStatus(item, 'sent');
    } else {
      if (this.el.querySelector(`[data-seq="${Number(message.seq)}"]`)) return;
      item = this.render(message);
    }
    item.dataset.seq = String(message.seq);
    // Ours from an earlier page (a replay): stored, so at least "sent".
    if (item.classList.contains('cd-msg--mine') && !item.dataset.status) this.setStatus(item, 'sent');
    this.place(item, message.seq);
    if (stick) this.scrollToEnd();
  }

  /** Our own message (or file, `entry.file` = {name, size}), shown at once while it is sent. */
  addOutgoing(entry) {
    const item = this.render({
      sender: this.mine,
      author_name: this.ownName,
      body: entry.file ? t('file.uploading', { name: entry.file.name, size: fileSize(entry.file.size) }) : entry.body,
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
    if (entry.seq) item.dataset.seq = String(entry.seq);
    this.setStatus(item, entry.status);
    if (entry.seq) this.place(item, entry.seq);
  }

  /** The other side's receipts (`receipt` frame or a snapshot's): update our messages. */
  setReceipts(receipts) {
    if (!receipts) return;
    const delivered = Number(receipts.delivered_seq) || 0;
    const read = Number(receipts.read_seq) || 0;
    if (delivered <= this.receipts.delivered_seq && read <= this.receipts.read_seq) return;
    this.receipts = {
      delivered_seq: Math.max(delivered, this.receipts.delivered_seq),
      read_seq: Math.max(read, this.receipts.read_seq),
    };
    for (const item of this.el.children) {
      if (item.dataset.seq && ['sent', 'delivered'].includes(item.dataset.status)) this.setStatus(item, 'sent');
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
    item.append(this.renderBody(message, sender));
    if (message.attachment) item.dataset.attachment = String(message.attachment.id);
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

  renderBody(message, sender) {
    const attachment = sender === 'system' ? null : message.attachment;
    const url = fileUrl(attachment);
    if (!url) return h('div', { class: 'cd-msg__body', text: bodyText(message, sender) });
    const name = String(attachment.filename || message.body || '');
    if (IMAGE_TYPES.has(attachment.content_type)) {
      const image = h('img', { class: 'cd-msg__image', alt: name, loading: 'lazy' });
      // Click (or Enter) opens the full size in a new tab; the server serves images inline.
      const link = h('a', {
        class: 'cd-msg__image-link', target: '_blank', rel: 'noopener noreferrer',
        title: t('file.open_image', { name }),
      }, image);
      this.imageUrl(attachment).then((src) => {
        if (!src) return;
        image.src = src;
        link.href = src;
      }).catch(() => {
        image.replaceWith(h('span', { class: 'cd-msg__file-name', text: t('file.unavailable', { name }) }));
      });
      return h('div', { class: 'cd-msg__body cd-msg__body--image' }, link);
    }
    const link = h('a', {
      class: 'cd-msg__file', href: url, download: name,
      'aria-label': t('file.download', { name, size: fileSize(attachment.size) }),
    },
      icon('file', 'cd-msg__file-icon'),
      h('span', { class: 'cd-msg__file-name', text: name }),
      h('span', { class: 'cd-msg__file-size', text: fileSize(attachment.size) }),
    );
    if (this.download) {
      link.addEventListener('click', (event) => {
        event.preventDefault();
        this.download(attachment);
      });
    }
    return h('div', { class: 'cd-msg__body cd-msg__body--file' }, link);
  }

  setStatus(item, status) {
    const el = item.querySelector('.cd-msg__status');
    if (!el) return;
    let shown = status;
    // A stored message of ours: as far as the other side's receipts say it got.
    if (status === 'sent' && item.dataset.seq) {
      const seq = Number(item.dataset.seq);
      if (seq <= this.receipts.read_seq) shown = 'read';
      else if (seq <= this.receipts.delivered_seq) shown = 'delivered';
    }
    item.dataset.status = shown;
    el.textContent = STATUS_KEYS[shown] ? t(STATUS_KEYS[shown]) : '';
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
