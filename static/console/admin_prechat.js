// A service's pre-chat form: which fields the widget asks before a chat (chat/prechat.py,
// `prechat_fields`): the name optional or required, the email and the subject hidden,
// optional or required. The message is always asked, so it has no select.
import { h } from '../lib/dom.js';
import { t } from '../i18n.js';
import { field } from './admin_common.js';

const RULES = {
  name: ['optional', 'required'],
  email: ['hidden', 'optional', 'required'],
  subject: ['hidden', 'optional', 'required'],
};
// What a service without settings asks (the server's chat.prechat.DEFAULT).
const DEFAULTS = { name: 'required', email: 'optional', subject: 'optional' };

export class PrechatEditor {
  /** @param {object|null} fields  the service's `prechat_fields` */
  constructor(fields, serviceId) {
    this.selects = {};
    const rows = Object.entries(RULES).map(([key, rules]) => {
      const current = rules.includes(fields?.[key]) ? fields[key] : DEFAULTS[key];
      const select = h('select', { class: 'input input--small', id: `service-${serviceId}-prechat-${key}` },
        rules.map((rule) => h('option', { value: rule, selected: rule === current, text: t(`admin.prechat_rule.${rule}`) })));
      this.selects[key] = select;
      return field(`admin.prechat_field.${key}`, select, 'admin__field--narrow');
    });
    this.el = h('fieldset', { class: 'admin__group prechat' },
      h('legend', { class: 'admin__legend', text: t('admin.prechat_title') }),
      h('p', { class: 'admin__hint-line', text: t('admin.prechat_hint') }),
      h('div', { class: 'admin__row' }, rows));
  }

  /** {prechat_fields} to send with the service's PATCH. */
  value() {
    return { prechat_fields: Object.fromEntries(Object.entries(this.selects).map(([key, select]) => [key, select.value])) };
  }
}
