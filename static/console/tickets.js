// The console's "Tickets" tab: filters, a page of tickets with an SLA badge each,
// bulk changes to the selected ones, and one ticket (ticketdetail.js) beside it.
// GET /api/tickets?status=&service_id=&priority=&agent_id=&unassigned=&breached=&tag=&q=&page=
import { api } from '../lib/api.js';
import { byId, h, replace } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { priorityLabel, statusLabel } from '../lib/ticketlabels.js';
import { formatDateTime, formatNumber, t, tn } from '../i18n.js';
import { Directory } from './directory.js';
import { NewTicketDialog } from './newticket.js';
import { TicketDetail } from './ticketdetail.js';
import { formatDue, slaBadge } from './ticketsla.js';

const PER_PAGE = 25;
const TYPING_PAUSE_MS = 350; // search as you type, but not on every key

export class TicketsView {
  /** @param {object} context  serviceName(id) → string; notice(text, options); me() → agent */
  constructor(context) {
    this.context = context;
    this.page = 1;
    this.pages = 1;
    this.loaded = false;
    this.prepared = null;
    this.items = [];
    this.selected = new Set();
    this.loadSeq = 0;
    this.directory = new Directory({ me: context.me, serviceName: context.serviceName });
    this.detail = new TicketDetail(byId('ticket-detail'), {
      directory: this.directory,
      notice: context.notice,
      onChanged: () => this.load(this.page),
    });
    this.newTicket = new NewTicketDialog({
      directory: this.directory,
      notice: context.notice,
      onCreated: (ticket) => {
        context.showTickets?.();
        this.load(1).then(() => this.open(ticket.id));
      },
    });
    this.el = {
      body: byId('tickets-body'),
      empty: byId('tickets-empty'),
      table: byId('tickets-table'),
      total: byId('tickets-total'),
      pageText: byId('tickets-page'),
      prev: byId('tickets-prev'),
      next: byId('tickets-next'),
      filters: byId('ticket-filters'),
      status: byId('filter-status'),
      service: byId('filter-service'),
      priority: byId('filter-priority'),
      assignee: byId('filter-assignee'),
      breached: byId('filter-breached'),
      tag: byId('filter-tag'),
      q: byId('filter-q'),
      selectAll: byId('tickets-select-all'),
      bulk: byId('tickets-bulk'),
      bulkCount: byId('bulk-count'),
      bulkStatus: byId('bulk-status'),
      bulkReason: byId('bulk-reason'),
      bulkPriority: byId('bulk-priority'),
      bulkAssign: byId('bulk-assign'),
      bulkApply: byId('bulk-apply'),
    };
    this.el.prev.addEventListener('click', () => this.load(this.page - 1));
    this.el.next.addEventListener('click', () => this.load(this.page + 1));
    byId('tickets-refresh').addEventListener('click', () => this.load(this.page));
    byId('tickets-new').addEventListener('click', () => this.openNewTicket());
    this.bindFilters();
    this.bindBulk();
  }

  reset() {
    this.loaded = false;
    this.prepared = null;
    this.items = [];
    this.selected.clear();
    this.el.body.replaceChildren();
    this.el.total.textContent = '';
    this.el.filters.reset();
    this.directory.reset();
    this.detail.reset();
    this.renderSelection();
  }

  show() {
    if (!this.loaded) this.prepare().then(() => this.load(1));
  }

  /** Alt+T (or the button): the new-ticket dialog, wherever the agent is. */
  openNewTicket() {
    this.prepare().then(() => this.newTicket.open());
  }

  /** Services and agents for the pickers, once per session. */
  prepare() {
    if (!this.prepared) {
      this.prepared = Promise.all([this.directory.loadServices(), this.directory.loadAgents()])
        .then(() => this.fillPickers());
    }
    return this.prepared;
  }

  fillPickers() {
    const keep = this.el.service.value;
    replace(this.el.service,
      h('option', { value: '', text: t('tickets.any_service') }),
      this.directory.services.map((service) => h('option', { value: String(service.id), text: service.name })),
    );
    this.el.service.value = keep;
    // Admins may filter and assign by any agent; others by "me" and "unassigned".
    for (const select of [this.el.assignee, this.el.bulkAssign]) {
      for (const old of select.querySelectorAll('option[data-agent]')) old.remove();
      for (const agent of this.directory.otherAgents()) {
        select.append(h('option', {
          value: `agent:${agent.id}`,
          dataset: { agent: String(agent.id) },
          text: agent.name || agent.email,
        }));
      }
    }
  }

  // ---------------------------------------------------------------- filters

  bindFilters() {
    let typing = null;
    this.el.filters.addEventListener('submit', (event) => {
      event.preventDefault();
      this.load(1);
    });
    this.el.filters.addEventListener('change', (event) => {
      if (event.target.tagName === 'SELECT') this.load(1);
    });
    this.el.filters.addEventListener('input', (event) => {
      if (event.target.tagName !== 'INPUT') return;
      clearTimeout(typing);
      typing = setTimeout(() => this.load(1), TYPING_PAUSE_MS);
    });
    byId('filter-clear').addEventListener('click', () => {
      this.el.filters.reset();
      this.load(1);
    });
  }

  query(page) {
    const params = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE) });
    const put = (name, value) => {
      if (value) params.set(name, value);
    };
    put('status', this.el.status.value);
    put('service_id', this.el.service.value);
    put('priority', this.el.priority.value);
    put('breached', this.el.breached.value);
    put('tag', this.el.tag.value.trim().toLowerCase());
    put('q', this.el.q.value.trim());
    const assignee = this.el.assignee.value;
    if (assignee === 'me') put('agent_id', String(this.directory.me().id ?? ''));
    else if (assignee === 'unassigned') put('unassigned', 'true');
    else if (assignee.startsWith('agent:')) put('agent_id', assignee.slice(6));
    return params.toString();
  }

  // ---------------------------------------------------------------- list

  async load(page) {
    if (page < 1) return;
    const seq = ++this.loadSeq;
    this.el.table.setAttribute('aria-busy', 'true');
    try {
      const data = await api('GET', `/api/tickets?${this.query(page)}`);
      if (seq !== this.loadSeq) return; // a newer filter won
      this.loaded = true;
      this.page = data.page || page;
      const perPage = data.per_page || PER_PAGE;
      this.pages = Math.max(1, Math.ceil((data.total || 0) / perPage));
      this.items = data.items || [];
      this.total = data.total || 0;
      this.directory.rememberPeople(this.items);
      // A selection only ever covers what is on screen.
      const shown = new Set(this.items.map((ticket) => ticket.id));
      for (const id of [...this.selected]) if (!shown.has(id)) this.selected.delete(id);
      this.render();
    } catch (error) {
      if (seq === this.loadSeq) this.context.notice(errorText(error, { preferServer: true }));
    } finally {
      if (seq === this.loadSeq) this.el.table.removeAttribute('aria-busy');
    }
  }

  render() {
    const items = this.items;
    this.el.body.replaceChildren(...items.map((ticket) => this.renderRow(ticket)));
    this.el.empty.hidden = items.length > 0;
    this.el.total.textContent = tn('tickets.count', this.total);
    this.el.pageText.textContent = t('console.page_of', {
      page: formatNumber(this.page), pages: formatNumber(this.pages),
    });
    this.el.prev.disabled = this.page <= 1;
    this.el.next.disabled = this.page >= this.pages;
    this.renderSelection();
  }

  renderRow(ticket) {
    const current = ticket.id === this.detail.openId;
    const open = h('button', {
      type: 'button',
      class: 'link-button',
      text: ticket.subject || t('console.no_subject'),
      'aria-current': current ? 'true' : false,
      onclick: () => this.open(ticket.id),
    });
    const check = h('input', {
      type: 'checkbox',
      class: 'table__checkbox',
      checked: this.selected.has(ticket.id),
      'aria-label': t('tickets.select_ticket', { id: ticket.id }),
      onchange: (event) => {
        if (event.target.checked) this.selected.add(ticket.id);
        else this.selected.delete(ticket.id);
        this.renderSelection();
      },
    });
    const tags = (ticket.tags || []).map((tag) => h('span', { class: 'tag tag--small', text: tag }));
    const requester = ticket.requester?.name || ticket.requester?.email
      || t('tickets.customer_number', { id: ticket.requester?.id ?? '' });
    const row = h('tr', { class: current ? 'is-current' : null, dataset: { ticketId: String(ticket.id) } },
      h('td', { class: 'table__check' }, check),
      h('td', { class: 'table__id', text: `#${ticket.id}` }),
      h('td', { class: 'table__subject' },
        open,
        h('span', { class: 'table__sub' },
          h('span', { class: 'table__requester', text: requester }),
          tags),
      ),
      h('td', {}, h('span', { class: `status status--${ticket.status}`, text: statusLabel(ticket.status) })),
      h('td', {}, h('span', {
        class: `priority priority--${ticket.priority}`,
        title: priorityLabel(ticket.priority),
        text: ticket.priority,
      })),
      h('td', { class: 'table__agent', text: ticket.agent?.name || t('console.unassigned') }),
      h('td', { class: 'table__sla' }, slaBadge(ticket)),
      h('td', {}, h('time', {
        datetime: ticket.updated_at,
        title: formatDateTime(ticket.updated_at),
        text: formatDue(ticket.updated_at),
      })),
    );
    row.addEventListener('click', (event) => {
      if (event.target !== open && event.target !== check && !event.target.closest('.table__check')) {
        this.open(ticket.id);
      }
    });
    return row;
  }

  open(id) {
    for (const row of this.el.body.rows) {
      const current = row.dataset.ticketId === String(id);
      row.classList.toggle('is-current', current);
      const button = row.querySelector('button');
      if (current) button?.setAttribute('aria-current', 'true');
      else button?.removeAttribute('aria-current');
    }
    return this.detail.open(id);
  }

  // ---------------------------------------------------------------- bulk

  bindBulk() {
    this.el.selectAll.addEventListener('change', () => {
      if (this.el.selectAll.checked) for (const ticket of this.items) this.selected.add(ticket.id);
      else this.selected.clear();
      for (const box of this.el.body.querySelectorAll('.table__checkbox')) box.checked = this.el.selectAll.checked;
      this.renderSelection();
    });
    this.el.bulkStatus.addEventListener('change', () => {
      this.el.bulkReason.hidden = this.el.bulkStatus.value !== 'closed';
    });
    byId('bulk-clear').addEventListener('click', () => {
      this.selected.clear();
      for (const box of this.el.body.querySelectorAll('.table__checkbox')) box.checked = false;
      this.renderSelection();
    });
    this.el.bulkApply.addEventListener('click', () => this.applyBulk());
  }

  renderSelection() {
    const count = this.selected.size;
    this.el.bulk.hidden = count === 0;
    this.el.bulkCount.textContent = tn('tickets.selected', count);
    this.el.selectAll.checked = count > 0 && count === this.items.length;
    this.el.selectAll.indeterminate = count > 0 && count < this.items.length;
  }

  async applyBulk() {
    const ids = [...this.selected];
    if (!ids.length) return;
    const body = { ids };
    const status = this.el.bulkStatus.value;
    if (status) {
      body.status = status;
      if (status === 'closed') body.reason = this.el.bulkReason.value;
    }
    if (this.el.bulkPriority.value) body.priority = this.el.bulkPriority.value;
    const assign = this.el.bulkAssign.value;
    if (assign === 'me') body.agent_id = this.directory.me().id;
    else if (assign === 'none') body.agent_id = null;
    else if (assign.startsWith('agent:')) body.agent_id = Number(assign.slice(6));
    if (Object.keys(body).length === 1) {
      this.context.notice(t('tickets.bulk_nothing'), { kind: 'info' });
      return;
    }
    this.el.bulkApply.disabled = true;
    try {
      const result = await api('POST', '/api/tickets/bulk', body);
      const updated = result?.updated?.length ?? ids.length;
      this.context.notice(tn('tickets.bulk_done', updated), { kind: 'info' });
      this.selected.clear();
      for (const select of [this.el.bulkStatus, this.el.bulkPriority, this.el.bulkAssign]) select.value = '';
      this.el.bulkReason.hidden = true;
      await this.load(this.page);
      if (this.detail.openId !== null && ids.includes(this.detail.openId)) this.detail.open(this.detail.openId, { focus: false });
    } catch (error) {
      // All or nothing on the server: nothing changed, the selection stays for another try.
      this.context.notice(errorText(error, { preferServer: true }));
    } finally {
      this.el.bulkApply.disabled = false;
    }
  }
}
