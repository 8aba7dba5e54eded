// Admin → Webhooks: endpoints (URL, secret shown once, event types), each one's
// delivery log with redelivery on demand, enable/disable and delete.
import { api } from '../lib/api.js';
import { byId, h, replace } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { formatNumber, t } from '../i18n.js';
import { CONFIRM_MS, errorCell, statusBadge, time } from './admin_common.js';

const DELIVERIES_PER_PAGE = 20;

export class WebhooksPanel {
  /** The section's markup is in index.html; this fills and steers it. */
  constructor(root, { notice, fail }) {
    this.root = root;
    this.notice = notice;
    this.fail = fail;
    this.eventTypes = [];
    this.openDeliveries = new Set(); // endpoint ids whose log is shown
    this.el = {
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
    };
    byId('webhooks-refresh').addEventListener('click', () => this.load());
    this.el.webhookForm.addEventListener('submit', (event) => this.createWebhook(event));
  }

  reset() {
    this.openDeliveries.clear();
    this.el.webhookList.replaceChildren();
    this.el.webhookSecret.hidden = true;
    this.el.webhookSecretValue.textContent = '';
  }

  load() {
    return this.loadWebhooks();
  }


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
}
