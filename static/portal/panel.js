// The customer's panel: Tecnospeed's five views (seeds/002) as tabs with counts,
// and a page of the chosen view's tickets.
// GET /api/portal/counts, GET /api/portal/tickets?view=…&page=…
import { byId, h } from '../lib/dom.js';
import { formatDateTime, formatNumber, t } from '../i18n.js';
import { portal } from './session.js';
import { customerStatus } from './words.js';

export const VIEWS = [
  'awaiting_my_response',
  'awaiting_return',
  'resolved_awaiting_approval',
  'not_yet_rated',
  'all',
];
const PER_PAGE = 20;

export class Panel {
  /** @param {object} context  notice(text), onError(error) */
  constructor(context) {
    this.context = context;
    this.view = null;
    this.page = 1;
    this.pages = 1;
    this.counts = null;
    this.seq = 0;
    this.el = {
      tabs: byId('view-tabs'),
      panel: byId('view-panel'),
      help: byId('view-help'),
      body: byId('portal-tickets'),
      table: byId('portal-table'),
      empty: byId('portal-empty'),
      pager: byId('portal-pager'),
      page: byId('portal-page'),
      prev: byId('portal-prev'),
      next: byId('portal-next'),
    };
    this.tabs = [...this.el.tabs.querySelectorAll('[role="tab"]')];
    for (const tab of this.tabs) {
      tab.addEventListener('click', () => {
        location.hash = `#/view/${tab.dataset.view}`;
      });
    }
    // Arrow keys move between tabs, as in any tab list.
    this.el.tabs.addEventListener('keydown', (event) => {
      const index = this.tabs.indexOf(document.activeElement);
      if (index < 0) return;
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      const next = this.tabs[(index + step + this.tabs.length) % this.tabs.length];
      next.focus();
      next.click();
    });
    this.el.prev.addEventListener('click', () => this.show(this.view, this.page - 1));
    this.el.next.addEventListener('click', () => this.show(this.view, this.page + 1));
  }

  async loadCounts() {
    try {
      this.counts = await portal.request('GET', '/api/portal/counts');
    } catch (error) {
      this.context.onError(error);
      return this.counts;
    }
    for (const badge of this.el.tabs.querySelectorAll('[data-count]')) {
      const count = this.counts?.[badge.dataset.count];
      badge.textContent = typeof count === 'number' ? formatNumber(count) : '';
      badge.classList.toggle('views__count--zero', !count);
    }
    return this.counts;
  }

  /** Where to land without a choice: the first view that holds something (Tecnospeed's order). */
  defaultView() {
    return VIEWS.find((view) => view !== 'all' && this.counts?.[view] > 0) || 'all';
  }

  async show(view, page = 1) {
    if (!VIEWS.includes(view) || page < 1) return;
    const changed = view !== this.view;
    this.view = view;
    for (const tab of this.tabs) {
      const selected = tab.dataset.view === view;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    this.el.panel.setAttribute('aria-labelledby', `tab-${view}`);
    this.el.help.textContent = t(`portal.view_help.${view}`);
    if (changed) this.el.body.replaceChildren();
    const seq = ++this.seq;
    this.el.table.setAttribute('aria-busy', 'true');
    try {
      const data = await portal.request('GET', `/api/portal/tickets?view=${encodeURIComponent(view)}&page=${page}&per_page=${PER_PAGE}`);
      if (seq !== this.seq) return;
      this.page = data.page || page;
      this.pages = Math.max(1, Math.ceil((data.total || 0) / (data.per_page || PER_PAGE)));
      this.render(data.items || []);
    } catch (error) {
      if (seq === this.seq) this.context.onError(error);
    } finally {
      if (seq === this.seq) this.el.table.removeAttribute('aria-busy');
    }
  }

  render(items) {
    this.el.body.replaceChildren(...items.map((ticket) => h('tr', { dataset: { ticketId: String(ticket.id) } },
      h('td', { class: 'table__subject' },
        h('a', { href: `#/ticket/${ticket.id}`, class: 'table__link', text: ticket.subject || t('portal.no_subject') })),
      h('td', { class: 'table__id', text: `#${ticket.id}` }),
      h('td', {}, h('span', { class: `status status--${ticket.status}`, text: customerStatus(ticket) })),
      h('td', { text: ticket.service || '' }),
      h('td', {}, h('time', {
        datetime: ticket.updated_at,
        title: formatDateTime(ticket.updated_at, { dateStyle: 'full', timeStyle: 'long' }),
        text: formatDateTime(ticket.updated_at),
      })),
    )));
    this.el.table.hidden = items.length === 0;
    this.el.empty.hidden = items.length > 0;
    this.el.empty.textContent = t(`portal.empty.${this.view}`);
    this.el.pager.hidden = this.pages <= 1;
    this.el.page.textContent = t('portal.page_of', { page: formatNumber(this.page), pages: formatNumber(this.pages) });
    this.el.prev.disabled = this.page <= 1;
    this.el.next.disabled = this.page >= this.pages;
  }
}
