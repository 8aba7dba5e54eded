// Screen (a): the pre-chat form, which turns into the leave-a-message form when the
// chosen service is closed or nobody is online (and after a missed chat, prefilled).
// Availability comes from `welcome.services` and live `desk_status` frames, and so do
// the fields each service asks (`prechat_fields`, docs/protocol.md): hidden ones are
// not shown nor sent, required ones are marked and checked here as on the server.
import { byId, h } from '../lib/dom.js';
import { formatDateTime, t } from '../i18n.js';

// A next opening within this many days reads best as a weekday ("Monday 09:00").
const WEEKDAY_ONLY_DAYS = 6;
// The form as it always was: what a service without settings (or an old server) asks.
const DEFAULT_FIELDS = { name: 'required', email: 'optional', subject: 'optional' };
const CONFIGURABLE = ['name', 'email', 'subject'];

/** "Monday 9:00 AM CET" (or with the date when further away), in the visitor's locale and zone. */
export function formatNextOpen(iso, now = new Date()) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const soon = (date - now) / 86_400_000 < WEEKDAY_ONLY_DAYS;
  return formatDateTime(date, {
    weekday: 'long',
    ...(soon ? {} : { day: 'numeric', month: 'long' }),
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
  });
}

export class ChatForm {
  /**
   * @param {object} handlers
   *   onStart({service_id, name, email, subject, message})         live chat
   *   onLeaveMessage({service_id, name, email, subject, message})  a ticket instead
   */
  constructor({ onStart, onLeaveMessage }) {
    this.onStart = onStart;
    this.onLeaveMessage = onLeaveMessage;
    this.services = [];
    this.missed = null;
    this.busy = false;
    this.el = {
      form: byId('chat-form'),
      intro: byId('form-intro'),
      callout: byId('form-callout'),
      calloutTitle: byId('form-callout-title'),
      calloutText: byId('form-callout-text'),
      serviceField: byId('field-service'),
      service: byId('form-service'),
      name: byId('form-name'),
      email: byId('form-email'),
      subject: byId('form-subject'),
      message: byId('form-message'),
      submit: byId('form-submit'),
    };
    this.el.service.addEventListener('change', () => this.render());
    this.el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  /** New service list (welcome or desk_status); keeps the selection when it still exists. */
  setServices(services, preferredId = null) {
    this.services = Array.isArray(services) ? services : [];
    const current = Number(this.el.service.value) || null;
    const wanted = [current, preferredId].find((id) => this.services.some((s) => s.id === id));
    const fallback = this.services.find((s) => s.available) || this.services[0];
    const selected = wanted ?? fallback?.id ?? null;
    this.el.service.replaceChildren(...this.services.map((service) => h('option', {
      value: String(service.id),
      selected: service.id === selected,
    }, service.available ? service.name : t('widget.service_offline', { name: service.name }))));
    if (selected !== null) this.el.service.value = String(selected);
    this.el.serviceField.hidden = this.services.length < 2;
    this.render();
  }

  selectService(id) {
    if (this.services.some((service) => service.id === id)) this.el.service.value = String(id);
    this.render();
  }

  selectedService() {
    const id = Number(this.el.service.value);
    return this.services.find((service) => service.id === id) || null;
  }

  /**
   * {name, email, subject}: 'hidden' | 'optional' | 'required' for the chosen service.
   * A message left for later is answered by email, so there the email is required.
   */
  fieldRules() {
    const given = this.selectedService()?.prechat_fields || {};
    const rules = {};
    for (const key of CONFIGURABLE) {
      rules[key] = ['hidden', 'optional', 'required'].includes(given[key]) ? given[key] : DEFAULT_FIELDS[key];
    }
    if (rules.name === 'hidden') rules.name = 'optional';
    if (this.mode() !== 'live') rules.email = 'required';
    return rules;
  }

  /** Show, mark and require each configurable field as the rules say. */
  renderFields(rules) {
    for (const key of CONFIGURABLE) {
      const rule = rules[key];
      const input = this.el[key];
      byId(`field-${key}`).hidden = rule === 'hidden';
      input.required = rule === 'required';
      input.setAttribute('aria-required', String(rule === 'required'));
      // The name is expected to be asked for: only an optional one is marked.
      const hint = byId(`form-${key}-hint`);
      const marked = rule === 'optional' || (rule === 'required' && key !== 'name');
      hint.hidden = !marked;
      hint.textContent = marked ? t(rule === 'optional' ? 'widget.optional' : 'widget.required') : '';
      if (rule === 'hidden') this.fieldError(input, null);
    }
  }

  /** 'live' (start a chat), 'offline' (leave a message) or 'missed' (leave one after a missed chat). */
  mode() {
    if (this.missed) return 'missed';
    return this.selectedService()?.available ? 'live' : 'offline';
  }

  /** After a `missed` frame: {ticket_id, next_open}; null to go back to the normal form. */
  setMissed(missed) {
    this.missed = missed;
    this.render();
  }

  render() {
    const mode = this.mode();
    const service = this.selectedService();
    this.el.intro.hidden = mode !== 'live';
    this.el.callout.hidden = mode === 'live';
    this.el.form.dataset.mode = mode;
    if (mode === 'missed') {
      this.el.calloutTitle.textContent = t('widget.missed_title');
      const parts = [this.missed.ticket_id
        ? t('widget.missed_text_ticket', { ticket: this.missed.ticket_id })
        : t('widget.missed_text')];
      if (this.missed.next_open) parts.push(t('widget.we_open', { when: formatNextOpen(this.missed.next_open) }));
      this.el.calloutText.textContent = parts.join(' ');
    } else if (mode === 'offline') {
      const closed = service && !service.open;
      this.el.calloutTitle.textContent = t(closed ? 'widget.offline_title' : 'widget.no_agents_title');
      const parts = [];
      if (service?.next_open) parts.push(t('widget.we_open', { when: formatNextOpen(service.next_open) }));
      parts.push(t('widget.leave_message_hint'));
      this.el.calloutText.textContent = parts.join(' ');
    }
    this.renderFields(this.fieldRules());
    this.el.submit.textContent = t(mode === 'live' ? 'widget.start_chat' : 'widget.send_message');
    this.el.submit.disabled = this.busy;
  }

  /** Fill in what we know (from setUser or the customer record); never overwrite typing. */
  prefill(values) {
    for (const key of ['name', 'email', 'subject', 'message']) {
      const input = this.el[key];
      if (values[key] && !input.value) input.value = values[key];
    }
  }

  /** Empty the parts that belong to one conversation, keep name and email. */
  clearConversation() {
    this.el.subject.value = '';
    this.el.message.value = '';
  }

  setBusy(busy) {
    this.busy = busy;
    this.el.submit.disabled = busy;
    this.el.form.setAttribute('aria-busy', String(busy));
  }

  /** The first field still to fill: a required empty one, else the message. */
  focus() {
    const { name, email, subject, message } = this.el;
    const first = [name, email, subject, message].find((input) => input.required && !input.value);
    (first || (message.value ? this.el.submit : message)).focus();
  }

  fieldError(input, key) {
    const error = byId(`${input.id}-error`);
    error.textContent = key ? t(key) : '';
    error.hidden = !key;
    input.setAttribute('aria-invalid', String(Boolean(key)));
    return Boolean(key);
  }

  /** The server refused a field the service requires (`field_required`): say so under it. */
  showRequired(field) {
    const input = CONFIGURABLE.includes(field) ? this.el[field] : null;
    if (!input || byId(`field-${field}`).hidden) return false;
    this.fieldError(input, `widget.error_${field}_required`);
    input.focus();
    return true;
  }

  validate() {
    const { name, email, subject, message } = this.el;
    const emailValue = email.value.trim();
    const missing = (input) => input.required && !input.value.trim();
    const problems = [
      this.fieldError(name, missing(name) ? 'widget.error_name_required' : null),
      this.fieldError(email, missing(email)
        ? 'widget.error_email_required'
        : emailValue && !email.checkValidity() ? 'widget.error_email_invalid' : null),
      this.fieldError(subject, missing(subject) ? 'widget.error_subject_required' : null),
      this.fieldError(message, message.value.trim() ? null : 'widget.error_message_required'),
    ];
    const firstBad = [name, email, subject, message].find((input, i) => problems[i]);
    if (firstBad) firstBad.focus();
    return !firstBad;
  }

  submit() {
    if (this.busy || !this.validate()) return;
    const fields = {
      service_id: this.selectedService()?.id ?? null,
      message: this.el.message.value.trim(),
    };
    // Hidden fields are never sent (the server would ignore them anyway); blanks neither.
    const rules = this.fieldRules();
    for (const key of CONFIGURABLE) {
      const value = this.el[key].value.trim();
      if (value && rules[key] !== 'hidden') fields[key] = value;
    }
    if (this.mode() === 'live') this.onStart(fields);
    else this.onLeaveMessage(fields);
  }
}
