// Beside the open chat: the customer's organization, their earlier chats (when, which
// service, who answered, how it ended) and their tickets, from
// GET /api/chats/{id}/context. The server lists only what this agent may open;
// a ticket opens in the Tickets tab.
import { api } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { statusLabel } from '../lib/ticketlabels.js';
import { formatDateTime, t } from '../i18n.js';

// The customer's history changes slowly; read it again after this long or when asked.
const FRESH_MS = 60_000;

export class CustomerContext {
  /** @param {object} context  openTicket(id) shows a ticket in the Tickets tab */
  constructor(context) {
    this.context = context;
    this.byChat = new Map(); // chat id → {el, loadedAt, state, loading}
  }

  reset() {
    this.byChat.clear();
  }

  /** The panel for this chat (kept across renders), loading it if it is stale. */
  element(chat) {
    let entry = this.byChat.get(chat.id);
    if (!entry) {
      entry = { el: h('section', { class: 'context', 'aria-labelledby': `context-title-${chat.id}`, 'aria-busy': 'true' }), loadedAt: 0, state: chat.state, loading: false };
      entry.el.append(h('h2', { class: 'panel__title', id: `context-title-${chat.id}`, text: t('context.title') }),
        h('p', { class: 'empty', text: t('console.loading') }));
      this.byChat.set(chat.id, entry);
    }
    // A chat that just ended has become a ticket: show it.
    const changed = entry.state !== chat.state;
    entry.state = chat.state;
    if (!entry.loading && (changed || Date.now() - entry.loadedAt > FRESH_MS)) this.load(chat.id, entry);
    return entry.el;
  }

  async load(chatId, entry) {
    entry.loading = true;
    entry.el.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', `/api/chats/${encodeURIComponent(chatId)}/context`);
      entry.loadedAt = Date.now();
      this.render(entry.el, chatId, data);
    } catch (error) {
      entry.el.replaceChildren(
        h('h2', { class: 'panel__title', id: `context-title-${chatId}`, text: t('context.title') }),
        h('p', { class: 'form-error', text: errorText(error, { preferServer: true }) }),
      );
    } finally {
      entry.loading = false;
      entry.el.removeAttribute('aria-busy');
    }
  }

  render(el, chatId, data) {
    const organization = data?.customer?.organization;
    const chats = data?.chats || [];
    const tickets = data?.tickets || [];
    // replace(), not replaceChildren(): it skips the nulls of the optional parts.
    replace(el,
      h('h2', { class: 'panel__title', id: `context-title-${chatId}`, text: t('context.title') }),
      h('dl', { class: 'details__list' },
        h('dt', { text: t('context.organization') }),
        h('dd', { text: organization?.name || t('context.no_organization') }),
      ),
      h('h3', { class: 'context__heading', text: t('context.tickets_title') }),
      tickets.length
        ? h('ul', { class: 'context__list' }, tickets.map((ticket) => this.ticketItem(ticket)))
        : h('p', { class: 'empty', text: t('context.no_tickets') }),
      data?.more_tickets ? h('p', { class: 'context__more', text: t('context.latest_only') }) : null,
      h('h3', { class: 'context__heading', text: t('context.chats_title') }),
      chats.length
        ? h('ul', { class: 'context__list' }, chats.map((chat) => this.chatItem(chat)))
        : h('p', { class: 'empty', text: t('context.no_chats') }),
      data?.more_chats ? h('p', { class: 'context__more', text: t('context.latest_only') }) : null,
    );
  }

  ticketItem(ticket) {
    return h('li', { class: 'context__item' },
      h('button', {
        type: 'button', class: 'context__link',
        'aria-label': t('context.open_ticket', { id: ticket.id, subject: ticket.subject || '' }),
        onclick: () => this.context.openTicket(ticket.id),
      },
        h('span', { class: 'context__number', text: `#${ticket.id}` }), ' ',
        h('span', { class: 'context__subject', text: ticket.subject || t('console.no_subject') }),
      ),
      h('span', { class: 'context__meta' },
        h('span', { class: `status status--${ticket.status}`, text: statusLabel(ticket.status) }),
        ' ',
        t('context.updated', { when: formatDateTime(ticket.updated_at, { dateStyle: 'medium' }) }),
      ),
    );
  }

  chatItem(chat) {
    return h('li', { class: 'context__item' },
      h('span', { class: 'context__line' },
        h('span', { text: formatDateTime(chat.created_at, { dateStyle: 'medium' }) }),
        ' ',
        h('span', { class: `context__outcome context__outcome--${chat.outcome}`, text: t(`context.outcome.${chat.outcome}`) }),
      ),
      h('span', { class: 'context__meta', text: [chat.service?.name, chat.agent?.name || t('context.no_agent')].filter(Boolean).join(' · ') }),
      chat.subject ? h('span', { class: 'context__meta', text: chat.subject }) : null,
      chat.ticket_id
        ? h('button', {
          type: 'button', class: 'context__link context__link--small',
          text: t('context.chat_ticket', { id: chat.ticket_id }),
          onclick: () => this.context.openTicket(chat.ticket_id),
        })
        : null,
    );
  }
}
