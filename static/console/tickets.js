// The console's "Tickets" tab: a page of tickets, and one ticket as a thread.
// GET /api/tickets?page=N and GET /api/tickets/{id} (see the summary in the PR).
import { api } from '../lib/api.js';
import { byId, h } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { formatDateTime, formatNumber, hasKey, t } from '../i18n.js';

/** A translated label for a known value (status, origin…), else the value itself. */
function label(prefix, value) {
  if (value === null || value === undefined || value === '') return '';
  const key = `${prefix}.${value}`;
  return hasKey(key) ? t(key) : String(value);
}

function priorityLabel(priority) {
  if (priority === null || priority === undefined || priority === '') return '';
  return /^\d+$/.test(String(priority)) ? `P${priority}` : String(priority);
}

export class TicketsView {
  /** @param {object} context  serviceName(id) → string; notice(text) */
  constructor(context) {
    this.context = context;
    this.page = 1;
    this.pages = 1;
    this.loaded = false;
    this.openId = null;
    this.el = {
      body: byId('tickets-body'),
      empty: byId('tickets-empty'),
      table: byId('tickets-table'),
      pageText: byId('tickets-page'),
      prev: byId('tickets-prev'),
      next: byId('tickets-next'),
      detail: byId('ticket-detail'),
    };
    this.el.prev.addEventListener('click', () => this.load(this.page - 1));
    this.el.next.addEventListener('click', () => this.load(this.page + 1));
    byId('tickets-refresh').addEventListener('click', () => this.load(this.page));
  }

  reset() {
    this.loaded = false;
    this.openId = null;
    this.el.body.replaceChildren();
    this.el.detail.replaceChildren(h('p', { class: 'empty', text: t('console.ticket_pick') }));
  }

  show() {
    if (!this.loaded) this.load(1);
  }

  async load(page) {
    if (page < 1) return;
    this.el.table.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', `/api/tickets?page=${encodeURIComponent(page)}`);
      this.loaded = true;
      this.page = data.page || page;
      const perPage = data.per_page || data.items?.length || 1;
      this.pages = Math.max(1, Math.ceil((data.total || 0) / perPage));
      this.renderList(data.items || []);
    } catch (error) {
      this.context.notice(errorText(error, { preferServer: true }));
    } finally {
      this.el.table.setAttribute('aria-busy', 'false');
    }
  }

  renderList(items) {
    this.el.body.replaceChildren(...items.map((ticket) => {
      const open = h('button', {
        type: 'button',
        class: 'link-button',
        text: ticket.subject || t('console.no_subject'),
        'aria-current': ticket.id === this.openId ? 'true' : false,
        onclick: () => this.open(ticket.id),
      });
      const row = h('tr', { dataset: { ticketId: String(ticket.id) } },
        h('td', { class: 'table__id', text: `#${ticket.id}` }),
        h('td', { class: 'table__subject' }, open),
        h('td', { text: ticket.requester?.name || ticket.requester?.email || '' }),
        h('td', {}, h('span', { class: `status status--${ticket.status}`, text: label('ticket.status', ticket.status) })),
        h('td', { text: priorityLabel(ticket.priority) }),
        h('td', { text: ticket.agent?.name || t('console.unassigned') }),
        h('td', {}, h('time', {
          datetime: ticket.updated_at,
          text: formatDateTime(ticket.updated_at, { dateStyle: 'short', timeStyle: 'short' }),
        })),
      );
      row.addEventListener('click', (event) => {
        if (event.target !== open) this.open(ticket.id);
      });
      return row;
    }));
    this.el.empty.hidden = items.length > 0;
    this.el.pageText.textContent = t('console.page_of', {
      page: formatNumber(this.page), pages: formatNumber(this.pages),
    });
    this.el.prev.disabled = this.page <= 1;
    this.el.next.disabled = this.page >= this.pages;
  }

  async open(id) {
    this.openId = id;
    for (const row of this.el.body.rows) {
      const current = row.dataset.ticketId === String(id);
      row.classList.toggle('is-current', current);
      const button = row.querySelector('button');
      if (current) button?.setAttribute('aria-current', 'true');
      else button?.removeAttribute('aria-current');
    }
    this.el.detail.replaceChildren(h('p', { class: 'empty', text: t('console.loading') }));
    try {
      const ticket = await api('GET', `/api/tickets/${encodeURIComponent(id)}`);
      if (this.openId === id) this.renderTicket(ticket);
    } catch (error) {
      this.el.detail.replaceChildren(h('p', { class: 'form-error', text: errorText(error, { preferServer: true }) }));
    }
  }

  renderTicket(ticket) {
    const requester = ticket.requester || {};
    const meta = [
      ['ticket.status', label('ticket.status', ticket.status)],
      ['ticket.priority', priorityLabel(ticket.priority)],
      ['ticket.service', this.context.serviceName(ticket.service_id)],
      ['ticket.requester', [requester.name, requester.email && `<${requester.email}>`].filter(Boolean).join(' ')],
      ['ticket.agent', ticket.agent?.name || t('console.unassigned')],
      ['ticket.origin', label('ticket.origin', ticket.origin)],
      ['ticket.created', formatDateTime(ticket.created_at)],
      ['ticket.updated', formatDateTime(ticket.updated_at)],
    ].filter(([, value]) => value);
    const messages = ticket.messages || [];
    const title = h('h2', { class: 'ticket__title', tabindex: '-1' },
      h('span', { class: 'ticket__id', text: `#${ticket.id} ` }),
      ticket.subject || t('console.no_subject'));
    this.el.detail.replaceChildren(
      title,
      h('dl', { class: 'ticket__meta' }, meta.flatMap(([key, value]) => [
        h('dt', { text: t(key) }), h('dd', { text: value }),
      ])),
      this.renderSurvey(ticket.survey),
      h('h3', { class: 'ticket__section', text: t('ticket.thread') }),
      messages.length
        ? h('ol', { class: 'thread' }, messages.map((message) => this.renderMessage(message)))
        : h('p', { class: 'empty', text: t('ticket.no_messages') }),
    );
    title.focus();
  }

  renderMessage(message) {
    const type = ['customer', 'agent', 'system'].includes(message.author_type) ? message.author_type : 'system';
    return h('li', { class: `thread__item thread__item--${type}${message.internal ? ' thread__item--internal' : ''}` },
      h('div', { class: 'thread__head' },
        h('strong', { text: message.author_name || label('ticket.author', type) }),
        message.author_name ? h('span', { class: 'thread__role', text: label('ticket.author', type) }) : null,
        message.internal ? h('span', { class: 'tag tag--internal', text: t('ticket.internal_note') }) : null,
        h('time', { datetime: message.created_at, text: formatDateTime(message.created_at) }),
      ),
      h('div', { class: 'thread__body', text: message.body || '' }),
    );
  }

  renderSurvey(survey) {
    if (!survey || survey.rating === null || survey.rating === undefined) {
      return h('p', { class: 'ticket__survey ticket__survey--none', text: t('ticket.not_rated') });
    }
    return h('div', { class: 'ticket__survey' },
      h('strong', { text: t('ticket.rating', { rating: survey.rating }) }),
      survey.comment ? h('q', { class: 'ticket__comment', text: survey.comment }) : null,
    );
  }
}
