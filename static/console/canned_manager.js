// "Canned responses": the agent's own saved replies and — for admins — the shared
// ones, listed, added, changed and deleted in a dialog (POST/PATCH/DELETE /api/canned).
// Agents see shared responses here too, read-only, so they know which shortcuts exist.
import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { t } from '../i18n.js';
import { cannedChanged } from './canned.js';

// The server's rule (chat/canned.py), checked here too so the agent reads it in their language.
const SHORTCUT = /^[a-z0-9_-]{1,40}$/;
const PLACEHOLDERS = ['customer_name', 'customer_first_name', 'customer_email', 'agent_name', 'agent_first_name', 'service_name'];

export class CannedManager {
  /** @param {object} context  me() → agent; services() → [{id, name}]; notice(text, options) */
  constructor(context) {
    this.context = context;
    this.items = [];
    this.editing = null; // the item being changed, or null for a new one
    this.build();
  }

  get isAdmin() {
    return this.context.me()?.role === 'admin';
  }

  build() {
    const el = {};
    el.list = h('div', { class: 'canned-manager__list', 'aria-live': 'polite' });
    el.formTitle = h('h3', { class: 'canned-manager__form-title', id: 'canned-form-title' });
    el.shortcut = h('input', {
      class: 'input', id: 'canned-shortcut', type: 'text', maxlength: '41', autocomplete: 'off',
      spellcheck: 'false', pattern: '/?[a-z0-9_\\-]{1,40}', required: true,
      placeholder: t('canned.shortcut_placeholder'),
    });
    el.title = h('input', { class: 'input', id: 'canned-title', type: 'text', maxlength: '120', required: true });
    el.body = h('textarea', { class: 'input canned-manager__body', id: 'canned-body', rows: '7', maxlength: '5000', required: true });
    el.shared = h('input', { type: 'checkbox', id: 'canned-shared' });
    el.sharedRow = h('label', { class: 'checkbox' }, el.shared, ' ', h('span', { text: t('canned.shared_label') }));
    el.service = h('select', { class: 'input', id: 'canned-service' });
    el.error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    // Said inside the dialog: a notice of the console would sit behind its backdrop.
    el.status = h('p', { class: 'canned-manager__status', role: 'status' });
    el.delete = h('button', {
      type: 'button', class: 'button button--danger-outline', text: t('canned.delete'),
      onclick: () => this.remove(),
    });
    el.save = h('button', { type: 'submit', class: 'button button--primary', text: t('canned.save') });
    el.form = h('form', {
      class: 'canned-manager__form', 'aria-labelledby': 'canned-form-title', novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        this.save();
      },
    },
      el.formTitle,
      h('label', { class: 'label', for: 'canned-shortcut', text: t('canned.shortcut') }),
      el.shortcut,
      h('label', { class: 'label', for: 'canned-title', text: t('canned.title') }),
      el.title,
      h('label', { class: 'label', for: 'canned-body', text: t('canned.body') }),
      el.body,
      h('p', { class: 'canned-manager__hint', id: 'canned-body-hint' },
        t('canned.placeholders_hint'), ' ',
        PLACEHOLDERS.map((name, i) => [i ? ' ' : '', h('code', { text: `{${name}}` })]),
      ),
      el.sharedRow,
      h('label', { class: 'label', for: 'canned-service', text: t('canned.service') }),
      el.service,
      el.error,
      el.status,
      h('div', { class: 'dialog__actions' }, el.delete, el.save),
    );
    el.body.setAttribute('aria-describedby', 'canned-body-hint');
    el.dialog = h('dialog', { class: 'dialog canned-manager', 'aria-labelledby': 'canned-manager-title' },
      h('div', { class: 'canned-manager__head' },
        h('h2', { class: 'dialog__title', id: 'canned-manager-title', text: t('canned.manager_title') }),
        h('button', {
          type: 'button', class: 'button button--small', text: t('canned.new'),
          onclick: () => this.edit(null),
        }),
        h('button', {
          type: 'button', class: 'button button--small button--ghost', text: t('canned.close'),
          onclick: () => el.dialog.close(),
        }),
      ),
      h('div', { class: 'canned-manager__columns' }, el.list, el.form),
    );
    this.el = el;
    document.body.append(el.dialog);
  }

  async open() {
    this.fillServices();
    this.el.sharedRow.hidden = !this.isAdmin;
    this.edit(null);
    if (!this.el.dialog.open) this.el.dialog.showModal();
    this.el.shortcut.focus();
    await this.load();
  }

  reset() {
    if (this.el.dialog.open) this.el.dialog.close();
    this.items = [];
  }

  fillServices() {
    this.el.service.replaceChildren(
      h('option', { value: '', text: t('canned.all_services') }),
      ...this.context.services().map((service) => h('option', { value: String(service.id), text: service.name })),
    );
  }

  serviceName(id) {
    if (id === null || id === undefined) return t('canned.all_services');
    return this.context.services().find((service) => service.id === id)?.name || `#${id}`;
  }

  async load() {
    try {
      const data = await api('GET', '/api/canned');
      this.items = Array.isArray(data?.items) ? data.items : [];
    } catch (error) {
      this.el.list.replaceChildren(h('p', { class: 'form-error', text: errorText(error, { preferServer: true }) }));
      return;
    }
    this.renderList();
  }

  renderList() {
    const mine = this.items.filter((item) => !item.shared);
    const shared = this.items.filter((item) => item.shared);
    const section = (titleKey, items, emptyKey) => [
      h('h3', { class: 'panel__title', text: t(titleKey) }),
      items.length
        ? h('ul', { class: 'canned-manager__items' }, items.map((item) => this.row(item)))
        : h('p', { class: 'empty', text: t(emptyKey) }),
    ];
    this.el.list.replaceChildren(
      ...section('canned.mine_title', mine, 'canned.mine_empty'),
      ...section('canned.shared_title', shared, 'canned.shared_empty'),
    );
  }

  row(item) {
    const current = this.editing?.id === item.id;
    return h('li', { class: `canned-manager__item${current ? ' is-current' : ''}` },
      h('div', { class: 'canned-manager__item-head' },
        h('span', { class: 'canned-option__shortcut', text: `/${item.shortcut}` }),
        h('span', { class: 'canned-manager__item-title', text: item.title }),
        item.can_edit
          ? h('button', {
            type: 'button', class: 'button button--small', text: t('canned.edit'),
            'aria-label': t('canned.edit_named', { shortcut: `/${item.shortcut}` }),
            onclick: () => this.edit(item),
          })
          : null,
      ),
      h('span', { class: 'canned-manager__item-meta', text: this.serviceName(item.service_id) }),
      h('span', { class: 'canned-manager__item-body', text: item.body }),
    );
  }

  /** Fill the form with `item` (or empty it for a new one). */
  edit(item) {
    this.editing = item;
    const el = this.el;
    el.formTitle.textContent = item ? t('canned.edit_title', { shortcut: `/${item.shortcut}` }) : t('canned.new_title');
    el.shortcut.value = item?.shortcut || '';
    el.title.value = item?.title || '';
    el.body.value = item?.body || '';
    el.shared.checked = Boolean(item?.shared);
    // Personal or shared is decided when it is made.
    el.shared.disabled = Boolean(item);
    el.service.value = item?.service_id ? String(item.service_id) : '';
    el.delete.hidden = !item;
    this.showError('');
    el.status.textContent = '';
    if (this.items.length) this.renderList();
    if (item) el.title.focus();
  }

  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = !text;
    if (text) this.el.status.textContent = ''; // the last "saved" is old news now
  }

  async save() {
    const el = this.el;
    const fields = {
      shortcut: el.shortcut.value.trim().replace(/^\//, ''),
      title: el.title.value.trim(),
      body: el.body.value,
      service_id: el.service.value ? Number(el.service.value) : null,
    };
    if (!fields.shortcut || !fields.title || !fields.body.trim()) {
      this.showError(t('canned.missing_fields'));
      return;
    }
    if (!SHORTCUT.test(fields.shortcut)) {
      this.showError(t('canned.bad_shortcut'));
      el.shortcut.focus();
      return;
    }
    if (!this.editing && el.shared.checked) fields.shared = true;
    el.save.disabled = true;
    try {
      const saved = this.editing
        ? await api('PATCH', `/api/canned/${encodeURIComponent(this.editing.id)}`, fields)
        : await api('POST', '/api/canned', fields);
      cannedChanged();
      await this.load();
      this.edit(this.items.find((item) => item.id === saved.id) || null);
      el.status.textContent = t('canned.saved', { shortcut: `/${saved.shortcut}` });
    } catch (error) {
      this.showError(errorText(error, { preferServer: true }));
    } finally {
      el.save.disabled = false;
    }
  }

  async remove() {
    const item = this.editing;
    if (!item || !window.confirm(t('canned.delete_confirm', { shortcut: `/${item.shortcut}` }))) return;
    try {
      await api('DELETE', `/api/canned/${encodeURIComponent(item.id)}`);
      cannedChanged();
      await this.load();
      this.edit(null);
      this.el.status.textContent = t('canned.deleted', { shortcut: `/${item.shortcut}` });
    } catch (error) {
      this.showError(errorText(error, { preferServer: true }));
    }
  }
}
