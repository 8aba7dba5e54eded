// "New ticket" (Alt+T, as in Movidesk): an agent opens a ticket for a customer.
// Requester email (completed from requesters seen before) and name, service, the
// service's categories, subject, message, priority, request type, CC → POST /api/tickets.
import { api } from '../lib/api.js';
import { byId, h, replace } from '../lib/dom.js';
import { createEmailChips } from '../lib/emailchips.js';
import { errorText } from '../lib/notices.js';
import { looksLikeEmail } from '../lib/ticketlabels.js';
import { t } from '../i18n.js';

export class NewTicketDialog {
  /** @param {object} context  directory (Directory), notice(text, options), onCreated(ticket) */
  constructor(context) {
    this.context = context;
    this.el = {
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
    };
    this.cc = createEmailChips({ id: 'nt-cc', listId: 'known-emails' });
    byId('nt-cc-field').replaceChildren(this.cc.element);
    this.el.form.addEventListener('submit', (event) => this.submit(event));
    byId('nt-cancel').addEventListener('click', () => this.el.dialog.close());
    this.el.service.addEventListener('change', () => this.loadCategories());
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
    const keep = this.el.service.value;
    this.el.service.replaceChildren(...directory.services.map((service) => h('option', {
      value: String(service.id), text: service.name,
    })));
    if (keep) this.el.service.value = keep;
    this.showError('');
    this.loadCategories();
    directory.harvestPeople();
    this.el.dialog.showModal();
    this.el.email.focus();
  }

  async loadCategories() {
    const serviceId = Number(this.el.service.value);
    const items = await this.context.directory.categories(serviceId);
    if (Number(this.el.service.value) !== serviceId) return; // changed meanwhile
    replace(this.el.category,
      h('option', { value: '', text: t('ticket.category_none') }),
      items.map((item) => h('option', { value: String(item.id), text: item.name })),
    );
    this.el.categoryField.hidden = items.length === 0;
  }

  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = !text;
  }

  /** The first thing missing, as a message and the field to focus; null when complete. */
  missing() {
    const { email, service, subject, message } = this.el;
    if (!looksLikeEmail(email.value.trim())) return [t('tickets.error_requester_email'), email];
    if (!service.value) return [t('tickets.error_service'), service];
    if (!subject.value.trim()) return [t('tickets.error_subject'), subject];
    if (!message.value.trim()) return [t('tickets.error_message'), message];
    return null;
  }

  async submit(event) {
    event.preventDefault(); // method="dialog" would close it even with errors
    if (!this.cc.commit()) return;
    const problem = this.missing();
    if (problem) {
      this.showError(problem[0]);
      problem[1].focus();
      return;
    }
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
    if (el.category.value && !el.categoryField.hidden) body.category_id = Number(el.category.value);
    if (el.requestType.value) body.request_type = el.requestType.value;
    el.submit.disabled = true;
    this.showError('');
    try {
      const ticket = await api('POST', '/api/tickets', body);
      this.context.directory.rememberPeople([ticket]);
      el.dialog.close();
      this.clear();
      this.context.notice(t('tickets.created', { id: ticket.id }), { kind: 'info' });
      this.context.onCreated(ticket);
    } catch (error) {
      this.showError(errorText(error, { preferServer: true }));
    } finally {
      el.submit.disabled = false;
    }
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
