// "New ticket" in the portal: service, the service's categories (required when it has
// any), subject, message, CC, request type and one file → POST /api/portal/tickets,
// then the file to the new ticket.
import { byId, h, replace } from '../lib/dom.js';
import { createEmailChips } from '../lib/emailchips.js';
import { errorText } from '../lib/notices.js';
import { t } from '../i18n.js';
import { portal } from './session.js';

export class NewTicketForm {
  /** @param {object} context  notice(text, options); onCreated(ticket); services() → Promise<[...]> */
  constructor(context) {
    this.context = context;
    this.categoryCache = new Map();
    this.el = {
      form: byId('new-ticket-form'),
      title: byId('new-title'),
      service: byId('pt-service'),
      categoryField: byId('pt-category-field'),
      category: byId('pt-category'),
      requestType: byId('pt-request-type'),
      subject: byId('pt-subject'),
      message: byId('pt-message'),
      file: byId('pt-file'),
      error: byId('pt-error'),
      submit: byId('pt-submit'),
    };
    this.cc = createEmailChips({ id: 'pt-cc', listId: 'portal-known-emails' });
    byId('pt-cc-field').replaceChildren(this.cc.element);
    this.el.service.addEventListener('change', () => this.loadCategories());
    this.el.form.addEventListener('submit', (event) => this.submit(event));
  }

  async show() {
    const services = await this.context.services();
    const keep = this.el.service.value;
    replace(this.el.service,
      h('option', { value: '', text: t('portal.choose_service') }),
      services.map((service) => h('option', { value: String(service.id), text: service.name })),
    );
    this.el.service.value = keep;
    this.showError('');
    await this.loadCategories();
    this.el.title.focus();
  }

  categories(serviceId) {
    if (!this.categoryCache.has(serviceId)) {
      this.categoryCache.set(serviceId, portal.request('GET', `/api/services/${encodeURIComponent(serviceId)}/categories`)
        .then((data) => data?.items || [])
        .catch(() => {
          this.categoryCache.delete(serviceId);
          return [];
        }));
    }
    return this.categoryCache.get(serviceId);
  }

  async loadCategories() {
    const serviceId = Number(this.el.service.value);
    const items = serviceId ? await this.categories(serviceId) : [];
    if (Number(this.el.service.value) !== serviceId) return;
    replace(this.el.category,
      h('option', { value: '', text: t('portal.choose_category') }),
      items.map((item) => h('option', { value: String(item.id), text: item.name })),
    );
    this.el.categoryField.hidden = items.length === 0;
    this.el.category.required = items.length > 0;
  }

  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = !text;
  }

  missing() {
    const { service, categoryField, category, subject, message } = this.el;
    if (!service.value) return [t('portal.error_service'), service];
    if (!categoryField.hidden && !category.value) return [t('portal.error_category'), category];
    if (!subject.value.trim()) return [t('portal.error_subject'), subject];
    if (!message.value.trim()) return [t('portal.error_message'), message];
    return null;
  }

  async submit(event) {
    event.preventDefault();
    if (!this.cc.commit()) return;
    const problem = this.missing();
    if (problem) {
      this.showError(problem[0]);
      problem[1].focus();
      return;
    }
    const { el } = this;
    const body = {
      service_id: Number(el.service.value),
      subject: el.subject.value.trim(),
      message: el.message.value,
      cc: this.cc.values(),
    };
    if (!el.categoryField.hidden && el.category.value) body.category_id = Number(el.category.value);
    if (el.requestType.value) body.request_type = el.requestType.value;
    const file = el.file.files?.[0] || null;
    el.submit.disabled = true;
    this.showError('');
    try {
      const ticket = await portal.request('POST', '/api/portal/tickets', body);
      if (file) {
        try {
          await portal.upload(`/api/portal/tickets/${encodeURIComponent(ticket.id)}/attachments`, file);
        } catch (error) {
          // The ticket exists; say what happened to the file and carry on to it.
          this.context.notice(t('portal.file_failed', { message: errorText(error, { preferServer: true }) }), { sticky: true });
        }
      }
      this.clear();
      this.context.notice(t('portal.ticket_created', { id: ticket.id }), { kind: 'info' });
      this.context.onCreated(ticket);
    } catch (error) {
      this.showError(errorText(error, { preferServer: true }));
    } finally {
      el.submit.disabled = false;
    }
  }

  clear() {
    const { el } = this;
    el.form.reset();
    this.cc.clear();
    this.el.categoryField.hidden = true;
  }
}
