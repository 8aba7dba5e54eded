// "New ticket" (Alt+T, as in Movidesk): an agent opens a ticket for a customer, or,
// with "Add me as requester", on their own behalf. Requester email (completed from
// requesters seen before) and name, service, the service's categories, subject,
// message, priority, request type, CC → POST /api/tickets.
import { api } from '../lib/api.js';
import { byId } from '../lib/dom.js';
import { TicketForm } from '../lib/ticketform.js';
import { looksLikeEmail } from '../lib/ticketlabels.js';
import { t } from '../i18n.js';

export class NewTicketDialog extends TicketForm {
  /** @param {object} context  directory (Directory), notice(text, options), onCreated(ticket) */
  constructor(context) {
    super({
      dialog: byId('new-ticket-dialog'),
      form: byId('new-ticket-form'),
      email: byId('nt-email'),
      name: byId('nt-name'),
      service: byId('nt-service'),
      categoryField: byId('nt-category-field'),
      category: byId('nt-category'),
      priority: byId('nt-priority'),
      requestType: byId('nt-request-type'),
      subject: byId('nt-subject'),
      message: byId('nt-message'),
      assignMe: byId('nt-assign-me'),
      error: byId('nt-error'),
      submit: byId('nt-submit'),
    }, {
      ccId: 'nt-cc',
      ccListId: 'known-emails',
      categories: (serviceId) => context.directory.categories(serviceId),
      categoryPlaceholder: () => t('ticket.category_none'),
      categoryRequired: false,
    });
    this.context = context;
    byId('nt-cancel').addEventListener('click', () => this.el.dialog.close());
    byId('nt-add-me').addEventListener('click', () => this.addMe());
    // A known requester's name comes with the address.
    this.el.email.addEventListener('change', () => {
      const name = this.context.directory.people.get(this.el.email.value.trim().toLowerCase());
      if (name && !this.el.name.value.trim()) this.el.name.value = name;
    });
  }

  get isOpen() {
    return this.el.dialog.open;
  }

  open() {
    if (this.isOpen) {
      this.el.email.focus();
      return;
    }
    const { directory } = this.context;
    this.fillServices(directory.services);
    this.showError('');
    this.loadCategories();
    directory.harvestPeople();
    this.el.dialog.showModal();
    this.el.email.focus();
  }

  /** The signed-in agent becomes the requester: their own email and name. */
  addMe() {
    const me = this.context.directory.me();
    if (!me.email) return;
    this.el.email.value = me.email;
    this.el.name.value = me.name || '';
    this.showError('');
    this.el.service.focus();
  }

  missing() {
    const { email, service, subject, message } = this.el;
    if (!looksLikeEmail(email.value.trim())) return [t('tickets.error_requester_email'), email];
    if (!service.value) return [t('tickets.error_service'), service];
    if (!subject.value.trim()) return [t('tickets.error_subject'), subject];
    if (!message.value.trim()) return [t('tickets.error_message'), message];
    return null;
  }

  async send() {
    const { el } = this;
    const body = {
      requester_email: el.email.value.trim().toLowerCase(),
      service_id: Number(el.service.value),
      subject: el.subject.value.trim(),
      message: el.message.value,
      priority: el.priority.value,
      cc: this.cc.values(),
      assign_to_me: el.assignMe.checked,
    };
    if (el.name.value.trim()) body.requester_name = el.name.value.trim();
    const categoryId = this.categoryId();
    if (categoryId !== null) body.category_id = categoryId;
    if (el.requestType.value) body.request_type = el.requestType.value;
    const ticket = await api('POST', '/api/tickets', body);
    this.context.directory.rememberPeople([ticket]);
    el.dialog.close();
    this.clear();
    this.context.notice(t('tickets.created', { id: ticket.id }), { kind: 'info' });
    this.context.onCreated(ticket);
  }

  clear() {
    const { el } = this;
    for (const input of [el.email, el.name, el.subject, el.message]) input.value = '';
    el.priority.value = 'P3';
    el.requestType.value = '';
    el.category.value = '';
    this.cc.clear();
  }
}
