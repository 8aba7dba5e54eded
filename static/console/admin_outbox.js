// Admin → Outbox: emails sent and to send, newest first, with their text; held or
// failed ones can be sent again. With no SMTP server configured this is where a
// desk's emails are read (issue #5).
import { api } from '../lib/api.js';
import { byId, h, replace } from '../lib/dom.js';
import { formatNumber, t } from '../i18n.js';
import { errorCell, statusBadge, time } from './admin_common.js';

const OUTBOX_PER_PAGE = 50;
const RETRYABLE = new Set(['failed', 'held']);

export class OutboxPanel {
  /** The section's markup is in index.html; this fills and steers it. */
  constructor(root, { notice, fail }) {
    this.root = root;
    this.notice = notice;
    this.fail = fail;
    this.emails = [];
    this.currentEmail = null;
    this.el = {
      outboxBody: byId('outbox-body'),
      outboxEmpty: byId('outbox-empty'),
      outboxTotal: byId('outbox-total'),
      outboxNote: byId('outbox-held-note'),
      outboxPreview: byId('outbox-preview'),
    };
    byId('outbox-refresh').addEventListener('click', () => this.load());
  }

  reset() {
    this.emails = [];
    this.currentEmail = null;
    this.el.outboxBody.replaceChildren();
    replace(this.el.outboxPreview, h('p', { class: 'empty', text: t('admin.outbox_pick') }));
  }

  load() {
    return this.loadOutbox();
  }


  async loadOutbox() {
    let data;
    try {
      data = await api('GET', `/api/admin/outbox?per_page=${OUTBOX_PER_PAGE}`);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.emails = Array.isArray(data?.items) ? data.items : [];
    const held = this.emails.some((email) => email.status === 'held');
    this.el.outboxNote.hidden = !(held || data?.smtp_configured === false);
    this.el.outboxTotal.textContent = data?.total ? `(${formatNumber(data.total)})` : '';
    this.el.outboxEmpty.hidden = this.emails.length > 0;
    this.el.outboxBody.replaceChildren(...this.emails.map((email) => this.emailRow(email)));
    const current = this.emails.find((email) => email.id === this.currentEmail);
    if (current) this.preview(current);
  }

  emailRow(email) {
    const sentAt = email.status === 'sent' ? email.finished_at : null;
    const resend = RETRYABLE.has(email.status)
      ? h('button', {
        type: 'button',
        class: 'button button--small admin__resend',
        text: t('admin.resend'),
        onclick: (event) => {
          event.stopPropagation();
          this.resend(email, event.currentTarget);
        },
      })
      : null;
    const row = h('tr', {
      class: email.id === this.currentEmail ? 'is-current' : '',
      dataset: { emailId: String(email.id), status: email.status },
      tabindex: '0',
      onclick: () => this.preview(email),
      onkeydown: (event) => {
        if (event.key === 'Enter' && event.target === row) this.preview(email);
      },
    },
    h('td', { class: 'admin__to', text: email.to || '' }),
    h('td', { class: 'table__subject' },
      h('span', { class: 'admin__subject', text: email.subject || '' }),
      h('span', { class: 'admin__kind', text: email.kind || '' })),
    h('td', {}, statusBadge(email.status), resend),
    h('td', { class: 'table__id', text: formatNumber(email.attempts ?? 0) }),
    errorCell(email.last_error),
    h('td', {}, time(email.created_at)),
    h('td', {}, time(sentAt)));
    return row;
  }

  preview(email) {
    this.currentEmail = email.id;
    for (const row of this.el.outboxBody.children) {
      row.classList.toggle('is-current', row.dataset.emailId === String(email.id));
    }
    const meta = h('dl', { class: 'ticket__meta' },
      h('dt', { text: t('admin.email_from') }), h('dd', { text: email.from || '' }),
      h('dt', { text: t('admin.col_to') }), h('dd', { text: email.to || '' }),
      h('dt', { text: t('admin.col_status') }), h('dd', {}, statusBadge(email.status)),
      email.ticket_id ? [h('dt', { text: t('admin.email_ticket') }), h('dd', { text: `#${email.ticket_id}` })] : null,
      email.last_error ? [h('dt', { text: t('admin.col_last_error') }), h('dd', { class: 'admin__error-full', text: email.last_error })] : null,
    );
    replace(this.el.outboxPreview,
      h('h3', { class: 'admin__subtitle', text: email.subject || '' }),
      meta,
      h('pre', { class: 'admin__text', id: 'outbox-text', text: email.text || '' }));
  }

  async resend(email, button) {
    button.disabled = true;
    try {
      await api('POST', `/api/admin/outbox/${email.id}/resend`);
      this.notice(t('admin.resent', { to: email.to || '' }), { kind: 'info' });
    } catch (error) {
      this.fail(error);
    }
    await this.loadOutbox();
  }
}
