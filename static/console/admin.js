// The Admin tab (admins only): the email outbox with resend, webhook endpoints with
// their delivery logs and redelivery, and the audit log. Everything here comes from
// /api/admin/…; server text (addresses, subjects, URLs, errors) only via textContent.
import { api } from '../lib/api.js';
import { byId, h, replace } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { formatDateTime, formatNumber, hasKey, t } from '../i18n.js';

const SECTIONS = ['outbox', 'webhooks', 'audit'];
const OUTBOX_PER_PAGE = 50;
const DELIVERIES_PER_PAGE = 20;
const RETRYABLE = new Set(['failed', 'held']);
// Delete asks once more on the same button; the question expires after this.
const CONFIRM_MS = 4_000;

const SHORT = { dateStyle: 'short', timeStyle: 'short' };

function time(iso) {
  if (!iso) return '';
  return h('time', { datetime: iso, title: formatDateTime(iso), text: formatDateTime(iso, SHORT) });
}

/** A long error in a table cell: two lines, the whole of it on hover. */
function errorCell(text) {
  return h('td', {}, text ? h('span', { class: 'admin__error', title: text, text }) : null);
}

function statusBadge(status) {
  const label = hasKey(`admin.status.${status}`) ? t(`admin.status.${status}`) : status;
  return h('span', { class: `status status--delivery-${status}`, text: label });
}

export class AdminView {
  /** notice(text, options) shows a message in the console's notice area. */
  constructor({ notice }) {
    this.notice = notice;
    this.section = 'outbox';
    this.emails = [];
    this.currentEmail = null;
    this.eventTypes = [];
    this.openDeliveries = new Set(); // endpoint ids whose log is shown
    this.el = {
      tabs: SECTIONS.map((name) => byId(`admin-tab-${name}`)),
      sections: Object.fromEntries(SECTIONS.map((name) => [name, byId(`admin-${name}`)])),
      outboxBody: byId('outbox-body'),
      outboxEmpty: byId('outbox-empty'),
      outboxTotal: byId('outbox-total'),
      outboxNote: byId('outbox-held-note'),
      outboxPreview: byId('outbox-preview'),
      webhookForm: byId('webhook-form'),
      webhookUrl: byId('webhook-url'),
      webhookDescription: byId('webhook-description'),
      webhookEvents: byId('webhook-events'),
      webhookCustomer: byId('webhook-customer-facing'),
      webhookError: byId('webhook-error'),
      webhookSecret: byId('webhook-secret'),
      webhookSecretValue: byId('webhook-secret-value'),
      webhookSubmit: byId('webhook-submit'),
      webhookList: byId('webhook-list'),
      webhookEmpty: byId('webhook-empty'),
      auditBody: byId('audit-body'),
      auditEmpty: byId('audit-empty'),
    };
    for (const tab of this.el.tabs) tab.addEventListener('click', () => this.showSection(tab.dataset.section));
    byId('outbox-refresh').addEventListener('click', () => this.loadOutbox());
    byId('webhooks-refresh').addEventListener('click', () => this.loadWebhooks());
    byId('audit-refresh').addEventListener('click', () => this.loadAudit());
    this.el.webhookForm.addEventListener('submit', (event) => this.createWebhook(event));
  }

  fail(error) {
    this.notice(errorText(error, { preferServer: true }));
  }

  /** The tab was opened: load the current section afresh. */
  show() {
    this.showSection(this.section);
  }

  reset() {
    this.section = 'outbox';
    this.emails = [];
    this.currentEmail = null;
    this.openDeliveries.clear();
    this.el.outboxBody.replaceChildren();
    this.el.webhookList.replaceChildren();
    this.el.auditBody.replaceChildren();
    this.el.webhookSecret.hidden = true;
    this.el.webhookSecretValue.textContent = '';
    replace(this.el.outboxPreview, h('p', { class: 'empty', text: t('admin.outbox_pick') }));
  }

  showSection(name) {
    if (!SECTIONS.includes(name)) return;
    this.section = name;
    for (const tab of this.el.tabs) {
      if (tab.dataset.section === name) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
    for (const [key, section] of Object.entries(this.el.sections)) section.hidden = key !== name;
    if (name === 'outbox') this.loadOutbox();
    else if (name === 'webhooks') this.loadWebhooks();
    else this.loadAudit();
  }

  // ------------------------------------------------------------ outbox

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

  // ------------------------------------------------------------ webhooks

  async loadWebhooks() {
    let data;
    try {
      data = await api('GET', '/api/admin/webhooks');
    } catch (error) {
      this.fail(error);
      return;
    }
    const types = Array.isArray(data?.event_types) ? data.event_types : [];
    if (types.join() !== this.eventTypes.join()) this.renderEventChoices(types);
    const items = Array.isArray(data?.items) ? data.items : [];
    this.el.webhookEmpty.hidden = items.length > 0;
    this.el.webhookList.replaceChildren(...items.map((endpoint) => this.endpointItem(endpoint)));
  }

  renderEventChoices(types) {
    this.eventTypes = types;
    const legend = this.el.webhookEvents.querySelector('legend');
    replace(this.el.webhookEvents, legend, types.map((type) => h('label', { class: 'checkbox admin__event' },
      h('input', { type: 'checkbox', name: 'event_types', value: type }),
      h('code', { text: type }))));
  }

  async createWebhook(event) {
    event.preventDefault();
    const url = this.el.webhookUrl.value.trim();
    const eventTypes = [...this.el.webhookEvents.querySelectorAll('input:checked')].map((box) => box.value);
    const problem = !url ? t('admin.webhook_url_missing') : !eventTypes.length ? t('admin.webhook_events_missing') : '';
    this.el.webhookError.textContent = problem;
    this.el.webhookError.hidden = !problem;
    if (problem) return;
    this.el.webhookSubmit.disabled = true;
    try {
      const created = await api('POST', '/api/admin/webhooks', {
        url,
        event_types: eventTypes,
        description: this.el.webhookDescription.value.trim(),
        customer_facing: this.el.webhookCustomer.checked,
      });
      this.el.webhookForm.reset();
      this.el.webhookSecretValue.textContent = created?.secret || '';
      this.el.webhookSecret.hidden = !created?.secret;
      this.notice(t('admin.webhook_created'), { kind: 'info' });
      await this.loadWebhooks();
    } catch (error) {
      this.el.webhookError.textContent = errorText(error, { preferServer: true });
      this.el.webhookError.hidden = false;
    } finally {
      this.el.webhookSubmit.disabled = false;
    }
  }

  endpointItem(endpoint) {
    const deliveries = h('div', { class: 'admin__deliveries', hidden: true });
    const toggleLog = h('button', {
      type: 'button',
      class: 'button button--small',
      'aria-expanded': 'false',
      text: t('admin.deliveries_show'),
      onclick: () => {
        const open = deliveries.hidden;
        deliveries.hidden = !open;
        toggleLog.setAttribute('aria-expanded', String(open));
        toggleLog.textContent = t(open ? 'admin.deliveries_hide' : 'admin.deliveries_show');
        if (open) {
          this.openDeliveries.add(endpoint.id);
          this.loadDeliveries(endpoint, deliveries);
        } else {
          this.openDeliveries.delete(endpoint.id);
        }
      },
    });
    const remove = h('button', {
      type: 'button',
      class: 'button button--small button--danger-outline',
      text: t('admin.webhook_delete'),
      onclick: () => {
        if (remove.dataset.confirm !== 'yes') {
          remove.dataset.confirm = 'yes';
          remove.textContent = t('admin.webhook_delete_confirm');
          setTimeout(() => {
            remove.dataset.confirm = '';
            remove.textContent = t('admin.webhook_delete');
          }, CONFIRM_MS);
          return;
        }
        this.deleteWebhook(endpoint);
      },
    });
    const item = h('li', { class: 'admin__endpoint', dataset: { webhookId: String(endpoint.id) } },
      h('div', { class: 'admin__endpoint-head' },
        h('code', { class: 'admin__url', text: endpoint.url || '' }),
        h('span', {
          class: `status ${endpoint.active ? 'status--resolved' : 'status--closed'}`,
          text: t(endpoint.active ? 'admin.webhook_active' : 'admin.webhook_inactive'),
        }),
        endpoint.customer_facing ? h('span', { class: 'tag', text: t('admin.webhook_customer_facing_tag') }) : null,
        endpoint.failed_deliveries
          ? h('span', { class: 'status status--delivery-failed', text: t('admin.webhook_failed_count', { count: formatNumber(endpoint.failed_deliveries) }) })
          : null),
      endpoint.description ? h('p', { class: 'admin__description', text: endpoint.description }) : null,
      h('p', { class: 'admin__meta' },
        h('span', { text: t('admin.webhook_events') }), ' ',
        (endpoint.event_types || []).map((type) => [h('code', { class: 'tag', text: type }), ' ']),
        h('span', { class: 'admin__hint', text: t('admin.webhook_secret_hint', { hint: endpoint.secret_hint || '' }) })),
      h('div', { class: 'admin__actions' },
        h('button', {
          type: 'button',
          class: 'button button--small',
          text: t(endpoint.active ? 'admin.webhook_disable' : 'admin.webhook_enable'),
          onclick: (event) => this.setActive(endpoint, !endpoint.active, event.currentTarget),
        }),
        toggleLog,
        remove),
      deliveries);
    if (this.openDeliveries.has(endpoint.id)) toggleLog.click();
    return item;
  }

  async setActive(endpoint, active, button) {
    button.disabled = true;
    try {
      await api('PATCH', `/api/admin/webhooks/${endpoint.id}`, { active });
    } catch (error) {
      this.fail(error);
    }
    await this.loadWebhooks();
  }

  async deleteWebhook(endpoint) {
    try {
      await api('DELETE', `/api/admin/webhooks/${endpoint.id}`);
      this.openDeliveries.delete(endpoint.id);
      this.notice(t('admin.webhook_deleted'), { kind: 'info' });
    } catch (error) {
      this.fail(error);
    }
    await this.loadWebhooks();
  }

  async loadDeliveries(endpoint, container) {
    let data;
    try {
      data = await api('GET', `/api/admin/webhooks/${endpoint.id}/deliveries?per_page=${DELIVERIES_PER_PAGE}`);
    } catch (error) {
      replace(container, h('p', { class: 'form-error', text: errorText(error, { preferServer: true }) }));
      return;
    }
    const items = Array.isArray(data?.items) ? data.items : [];
    if (!items.length) {
      replace(container, h('p', { class: 'empty', text: t('admin.deliveries_empty') }));
      return;
    }
    const head = h('tr', {}, ['admin.col_event', 'admin.col_status', 'admin.col_response', 'admin.col_attempts', 'admin.col_time', 'admin.col_last_error']
      .map((key) => h('th', { scope: 'col', text: t(key) })), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: t('admin.col_actions') })));
    const rows = items.map((delivery) => h('tr', { dataset: { deliveryId: String(delivery.id) } },
      h('td', {}, h('code', { text: delivery.event_type || '' })),
      h('td', {}, statusBadge(delivery.status)),
      h('td', { class: 'table__id', text: delivery.response_status ? String(delivery.response_status) : '' }),
      h('td', { class: 'table__id', text: formatNumber(delivery.attempts ?? 0) }),
      h('td', {}, time(delivery.last_attempt_at || delivery.created_at)),
      errorCell(delivery.last_error),
      h('td', {}, h('button', {
        type: 'button',
        class: 'button button--small',
        text: t('admin.redeliver'),
        onclick: (event) => this.redeliver(endpoint, delivery, event.currentTarget, container),
      }))));
    const total = data?.total > items.length
      ? h('p', { class: 'empty', text: t('admin.deliveries_more', { shown: formatNumber(items.length), total: formatNumber(data.total) }) })
      : null;
    replace(container, h('table', { class: 'table table--static' }, h('thead', {}, head), h('tbody', {}, rows)), total);
  }

  async redeliver(endpoint, delivery, button, container) {
    button.disabled = true;
    try {
      await api('POST', `/api/admin/webhooks/deliveries/${delivery.id}/redeliver`);
      this.notice(t('admin.redelivered'), { kind: 'info' });
    } catch (error) {
      this.fail(error);
    }
    await this.loadDeliveries(endpoint, container);
  }

  // ------------------------------------------------------------ audit log

  async loadAudit() {
    let data;
    try {
      data = await api('GET', '/api/admin/audit');
    } catch (error) {
      this.fail(error);
      return;
    }
    const items = Array.isArray(data?.items) ? data.items : [];
    this.el.auditEmpty.hidden = items.length > 0;
    this.el.auditBody.replaceChildren(...items.map((entry) => {
      const actor = entry.actor_name
        || [entry.actor_type, entry.actor_id ? `#${entry.actor_id}` : ''].filter(Boolean).join(' ');
      return h('tr', {},
        h('td', {}, time(entry.at)),
        h('td', {}, h('code', { text: entry.action || '' })),
        h('td', { text: actor }),
        h('td', { text: entry.ip || '' }),
        h('td', { class: 'table__subject', text: entry.target || '' }));
    }));
  }
}
