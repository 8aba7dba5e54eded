// The console's left column: chats offered to me (accept before `expires_at`) and
// the queue of waiting chats of my services, with wait times ticking every second.
import { byId, h } from '../lib/dom.js';
import { formatNumber, t } from '../i18n.js';

/** "4:05" or "1:02:09": how long since / until a moment, for lists that tick. */
export function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

function firstMessageOf(offer) {
  const first = offer.first_message ?? offer.chat?.first_message ?? null;
  if (typeof first === 'string') return first;
  return first?.body ?? null;
}

export class OfferList {
  /**
   * @param {object} options
   *   serviceName(id) → string; send(frame) → bool; onNew(offer) for sound/notification
   */
  constructor({ serviceName, send, onNew }) {
    this.serviceName = serviceName;
    this.send = send;
    this.onNew = onNew;
    this.offers = new Map(); // chat_id → {offer, item, receivedAt, expiresAt, accepting}
    this.list = byId('offers');
    this.empty = byId('offers-empty');
    this.count = byId('offers-count');
    this.render();
  }

  reset() {
    this.offers.clear();
    this.list.replaceChildren();
    this.render();
  }

  /** The offers in `welcome`: replaces what we show. */
  set(offers) {
    const fresh = new Set((offers || []).map((offer) => offer.chat?.id));
    for (const chatId of [...this.offers.keys()]) if (!fresh.has(chatId)) this.remove(chatId);
    for (const offer of offers || []) this.add(offer, { quiet: true });
  }

  add(offer, { quiet = false } = {}) {
    const chat = offer.chat;
    if (!chat?.id) return;
    const existing = this.offers.get(chat.id);
    if (existing) existing.item.remove();
    const entry = {
      offer,
      receivedAt: Date.now(),
      expiresAt: Date.parse(offer.expires_at) || Date.now(),
      accepting: false,
      firstMessage: firstMessageOf(offer) ?? existing?.firstMessage ?? null,
    };
    entry.item = this.renderOffer(chat, entry);
    this.offers.set(chat.id, entry);
    this.list.append(entry.item);
    this.render();
    this.tick();
    if (!quiet && !existing) this.onNew(offer);
  }

  has(chatId) {
    return this.offers.has(chatId);
  }

  remove(chatId) {
    const entry = this.offers.get(chatId);
    if (!entry) return null;
    entry.item.remove();
    this.offers.delete(chatId);
    this.render();
    return entry.offer;
  }

  /** A `message` frame for an offered chat: show the customer's first words. */
  setFirstMessage(chatId, body) {
    const entry = this.offers.get(chatId);
    if (!entry || entry.firstMessage) return;
    entry.firstMessage = body;
    const p = entry.item.querySelector('.offer__message');
    p.textContent = body;
    p.hidden = false;
  }

  renderOffer(chat, entry) {
    const accept = h('button', {
      type: 'button', class: 'button button--primary button--small', text: t('console.accept'),
      onclick: () => this.respond(chat.id, 'accept'),
    });
    const decline = h('button', {
      type: 'button', class: 'button button--small', text: t('console.decline'),
      onclick: () => this.respond(chat.id, 'decline'),
    });
    const name = chat.customer?.name || t('console.anonymous');
    return h('li', { class: 'offer', 'aria-label': t('console.offer_label', { name }) },
      h('div', { class: 'offer__head' },
        h('strong', { class: 'offer__name', text: name }),
        h('span', { class: 'tag', text: this.serviceName(chat.service_id) }),
      ),
      chat.subject ? h('div', { class: 'offer__subject', text: chat.subject }) : null,
      h('p', { class: 'offer__message', text: entry.firstMessage || '', hidden: !entry.firstMessage }),
      h('div', { class: 'offer__timer' },
        h('progress', { class: 'offer__progress', max: '100', value: '100', 'aria-hidden': 'true' }),
        h('span', { class: 'offer__countdown' }),
      ),
      h('div', { class: 'offer__actions' }, accept, decline),
    );
  }

  respond(chatId, type) {
    const entry = this.offers.get(chatId);
    if (!entry || entry.accepting) return;
    if (!this.send({ type, chat_id: chatId })) return;
    if (type === 'decline') {
      this.remove(chatId);
      return;
    }
    entry.accepting = true;
    for (const button of entry.item.querySelectorAll('button')) button.disabled = true;
  }

  /** An accept was refused (e.g. offer_expired): the oldest pending accept is the one. */
  acceptFailed({ drop }) {
    const pending = [...this.offers.entries()].find(([, entry]) => entry.accepting);
    if (!pending) return;
    const [chatId, entry] = pending;
    if (drop) {
      this.remove(chatId);
      return;
    }
    entry.accepting = false;
    for (const button of entry.item.querySelectorAll('button')) button.disabled = false;
  }

  tick(now = Date.now()) {
    for (const [chatId, entry] of this.offers) {
      const left = entry.expiresAt - now;
      if (left <= 0 && !entry.accepting) {
        this.remove(chatId); // the server withdraws it too; don't show a dead offer
        continue;
      }
      const total = Math.max(1, entry.expiresAt - entry.receivedAt);
      const progress = entry.item.querySelector('.offer__progress');
      progress.value = Math.max(0, Math.min(100, (left / total) * 100));
      entry.item.querySelector('.offer__countdown').textContent =
        t('console.offer_expires', { time: formatDuration(left) });
      entry.item.classList.toggle('offer--urgent', left < 10_000);
    }
  }

  render() {
    const n = this.offers.size;
    this.empty.hidden = n > 0;
    this.count.textContent = n ? formatNumber(n) : '';
  }
}

export class QueueList {
  constructor({ serviceName }) {
    this.serviceName = serviceName;
    this.waiting = [];
    this.list = byId('queue');
    this.empty = byId('queue-empty');
    this.count = byId('queue-count');
    this.set([]);
  }

  reset() {
    this.set([]);
  }

  /** `queue.waiting` (or `welcome.queue`): [{chat_id, service_id, customer_name, subject, waiting_since}]. */
  set(waiting) {
    this.waiting = Array.isArray(waiting) ? waiting : [];
    this.list.replaceChildren(...this.waiting.map((entry) => h('li', { class: 'queue__item' },
      h('div', { class: 'queue__head' },
        h('strong', { class: 'queue__name', text: entry.customer_name || t('console.anonymous') }),
        h('span', {
          class: 'queue__wait',
          dataset: { since: entry.waiting_since || '' },
          title: t('console.waiting_for'),
        }),
      ),
      h('div', { class: 'queue__meta' },
        h('span', { class: 'tag', text: this.serviceName(entry.service_id) }),
        entry.subject ? h('span', { class: 'queue__subject', text: entry.subject }) : null,
      ),
    )));
    this.empty.hidden = this.waiting.length > 0;
    this.count.textContent = this.waiting.length ? formatNumber(this.waiting.length) : '';
    this.tick();
  }

  tick(now = Date.now()) {
    for (const el of this.list.querySelectorAll('.queue__wait')) {
      const since = Date.parse(el.dataset.since);
      el.textContent = Number.isNaN(since) ? '' : formatDuration(now - since);
    }
  }
}
