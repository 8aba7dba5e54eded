// "New ticket" in the portal: service, the service's categories (required when it has
// any), subject, message, CC, request type and one file → POST /api/portal/tickets,
// then the file to the new ticket.
import { byId } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { TicketForm } from '../lib/ticketform.js';
import { t } from '../i18n.js';
import { portal } from './session.js';

export class NewTicketForm extends TicketForm {
  /** @param {object} context  notice(text, options); onCreated(ticket); services() → Promise<[...]> */
  constructor(context) {
    const categoryCache = new Map();
    super({
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
    }, {
      ccId: 'pt-cc',
      ccListId: 'portal-known-emails',
      categories: (serviceId) => {
        if (!categoryCache.has(serviceId)) {
          categoryCache.set(serviceId, portal.request('GET', `/api/services/${encodeURIComponent(serviceId)}/categories`)
            .then((data) => data?.items || [])
            .catch(() => {
              categoryCache.delete(serviceId);
              return [];
            }));
        }
        return categoryCache.get(serviceId);
      },
      categoryPlaceholder: () => t('portal.choose_category'),
      categoryRequired: true,
    });
    this.context = context;
  }

  async show() {
    this.fillServices(await this.context.services(), t('portal.choose_service'));
    this.showError('');
    await this.loadCategories();
    this.el.title.focus();
  }

  missing() {
    const { service, categoryField, category, subject, message } = this.el;
    if (!service.value) return [t('portal.error_service'), service];
    if (!categoryField.hidden && !category.value) return [t('portal.error_category'), category];
    if (!subject.value.trim()) return [t('portal.error_subject'), subject];
    if (!message.value.trim()) return [t('portal.error_message'), message];
    return null;
  }

  async send() {
    const { el } = this;
    const body = {
      service_id: Number(el.service.value),
      subject: el.subject.value.trim(),
      message: el.message.value,
      cc: this.cc.values(),
    };
    const categoryId = this.categoryId();
    if (categoryId !== null) body.category_id = categoryId;
    if (el.requestType.value) body.request_type = el.requestType.value;
    const file = el.file.files?.[0] || null;
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
  }

  clear() {
    this.el.form.reset();
    this.cc.clear();
    this.el.categoryField.hidden = true;
  }
}
