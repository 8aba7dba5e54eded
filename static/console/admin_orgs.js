// Admin → Organizations: customer companies by email domain, whether their tickets
// need a designated contact's approval, and who those contacts are (by email; unknown
// addresses become customers on the server).
import { api } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { t } from '../i18n.js';
import { busy, field, formError, input, sectionHead } from './admin_common.js';

function emails(text) {
  return text.split(/[\s,;]+/).map((e) => e.trim()).filter(Boolean);
}

export class OrganizationsPanel {
  constructor(root, { notice, fail }) {
    this.root = root;
    this.notice = notice;
    this.fail = fail;
    this.list = h('ul', { class: 'admin__cards', id: 'organization-list' });
    this.empty = h('p', { class: 'empty', text: t('admin.orgs_empty'), hidden: true });
    replace(root,
      sectionHead('admin.orgs_title', () => this.load(), 'admin-orgs-title'),
      this.form(null),
      this.list,
      this.empty);
  }

  reset() {
    this.list.replaceChildren();
  }

  async load() {
    let data;
    try {
      data = await api('GET', '/api/admin/organizations');
    } catch (error) {
      this.fail(error);
      return;
    }
    const items = Array.isArray(data?.items) ? data.items : [];
    this.empty.hidden = items.length > 0;
    this.list.replaceChildren(...items.map((org) => h('li', { class: 'admin__card', dataset: { organizationId: String(org.id) } }, this.form(org))));
  }

  /** The add form (org = null) or one organization's edit form. */
  form(org) {
    const name = input({ value: org?.name || '', maxlength: '120' });
    const domain = input({ value: org?.domain || '', maxlength: '253', placeholder: 'example.com' });
    const approval = h('input', { type: 'checkbox', checked: Boolean(org?.requires_approval) });
    const contacts = h('textarea', { class: 'input', rows: '2', placeholder: t('admin.org_contacts_placeholder') });
    contacts.value = (org?.contacts || []).map((c) => c.email).join('\n');
    const error = formError();
    const submit = h('button', { type: 'submit', class: 'button button--small button--primary', text: t(org ? 'admin.save' : 'admin.org_create') });
    return h('form', {
      class: org ? 'admin__org' : 'admin__form',
      id: org ? null : 'organization-form',
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        if (!name.value.trim() || !domain.value.trim()) {
          error.show(t('admin.org_missing'));
          return;
        }
        error.clear();
        const body = {
          name: name.value.trim(),
          domain: domain.value.trim(),
          requires_approval: approval.checked,
          contacts: emails(contacts.value),
        };
        const saved = await busy(submit,
          () => (org ? api('PATCH', `/api/admin/organizations/${org.id}`, body) : api('POST', '/api/admin/organizations', body)),
          (problem) => error.show(problem));
        if (!saved) return;
        this.notice(t('admin.saved'), { kind: 'info' });
        if (!org) event.target.reset();
        await this.load();
      },
    },
    org ? null : h('h3', { class: 'admin__subtitle', text: t('admin.org_add') }),
    h('div', { class: 'admin__row' },
      field('admin.col_name', name),
      field('admin.org_domain', domain),
      field('admin.org_contacts', contacts, 'admin__field--wide')),
    h('label', { class: 'checkbox' }, approval, ` ${t('admin.org_requires_approval')}`),
    error.el,
    h('div', { class: 'admin__actions' }, submit));
  }
}
