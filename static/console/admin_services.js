// Admin → Services: add, rename, describe, switch on/off and reorder services; their
// categories; and per service the business hours, holidays, SLA targets and the
// widget's pre-chat form fields (admin_hours.js, admin_sla.js, admin_prechat.js),
// saved together with one PATCH.
import { api } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { t } from '../i18n.js';
import { busy, field, formError, input, sectionHead } from './admin_common.js';
import { HoursEditor } from './admin_hours.js';
import { PrechatEditor } from './admin_prechat.js';
import { SlaEditor } from './admin_sla.js';

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** A new service starts open on weekdays, 09:00–18:00 in the admin's own time zone. */
function defaultSchedule() {
  const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri'];
  return { timezone: browserZone(), weekly: Object.fromEntries(weekdays.map((d) => [d, ['09:00-18:00']])), holidays: [], exceptions: {} };
}

export class ServicesPanel {
  constructor(root, { notice, fail }) {
    this.root = root;
    this.notice = notice;
    this.fail = fail;
    this.services = [];
    this.openEditor = null; // the service id whose hours/SLA editor is open
    this.error = formError();
    this.newName = input({ id: 'service-new-name', maxlength: '120' });
    const submit = h('button', { type: 'submit', class: 'button button--primary', text: t('admin.service_create') });
    this.list = h('ul', { class: 'admin__cards', id: 'service-list' });
    replace(root,
      sectionHead('admin.services_title', () => this.load(), 'admin-services-title'),
      h('form', {
        class: 'admin__form admin__form--inline', id: 'service-form', novalidate: true,
        onsubmit: (event) => {
          event.preventDefault();
          this.create(submit);
        },
      },
      field('admin.service_new_name', this.newName),
      submit,
      this.error.el),
      this.list);
  }

  reset() {
    this.list.replaceChildren();
    this.openEditor = null;
    this.error.clear();
  }

  async load() {
    let data;
    try {
      data = await api('GET', '/api/admin/services');
    } catch (error) {
      this.fail(error);
      return;
    }
    this.services = Array.isArray(data?.items) ? data.items : [];
    this.list.replaceChildren(...this.services.map((service, index) => this.card(service, index)));
  }

  async create(submit) {
    const name = this.newName.value.trim();
    this.error.show(name ? '' : t('admin.service_name_missing'));
    if (!name) return;
    const position = Math.max(0, ...this.services.map((s) => s.position || 0)) + 1;
    const created = await busy(submit,
      () => api('POST', '/api/admin/services', { name, schedule: defaultSchedule(), position }),
      (error) => this.error.show(error));
    if (!created) return;
    this.newName.value = '';
    this.openEditor = created.id;
    this.notice(t('admin.service_created', { name: created.name }), { kind: 'info' });
    await this.load();
  }

  async save(service, change, button) {
    const saved = await busy(button, () => api('PATCH', `/api/admin/services/${service.id}`, change), (error) => this.fail(error));
    if (saved) this.notice(t('admin.saved'), { kind: 'info' });
    await this.load();
    return saved;
  }

  /** Move a service up or down: every position is rewritten as its index. */
  async move(index, step) {
    const order = [...this.services];
    const [moved] = order.splice(index, 1);
    order.splice(index + step, 0, moved);
    try {
      for (const [position, service] of order.entries()) {
        if (service.position !== position) await api('PATCH', `/api/admin/services/${service.id}`, { position });
      }
    } catch (error) {
      this.fail(error);
    }
    await this.load();
  }

  card(service, index) {
    const name = input({ value: service.name || '', maxlength: '120' });
    const description = h('textarea', { class: 'input', rows: '2', maxlength: '2000' });
    description.value = service.description || '';
    const active = h('input', { type: 'checkbox', checked: service.active });
    const saveButton = h('button', {
      type: 'button', class: 'button button--small button--primary', text: t('admin.save'),
      onclick: (event) => this.save(service, {
        name: name.value.trim(), description: description.value, active: active.checked,
      }, event.currentTarget),
    });
    const editorOpen = this.openEditor === service.id;
    const editorToggle = h('button', {
      type: 'button', class: 'button button--small', 'aria-expanded': String(editorOpen),
      text: t(editorOpen ? 'admin.hours_close' : 'admin.hours_edit'),
      onclick: () => {
        this.openEditor = this.openEditor === service.id ? null : service.id;
        this.list.replaceChildren(...this.services.map((s, i) => this.card(s, i)));
      },
    });
    const last = index === this.services.length - 1;
    return h('li', { class: `admin__card${service.active ? '' : ' is-inactive'}`, dataset: { serviceId: String(service.id) } },
      h('div', { class: 'admin__card-head' },
        h('h3', { class: 'admin__subtitle', text: service.name || '' }),
        service.active ? null : h('span', { class: 'status status--closed', text: t('admin.inactive') }),
        h('span', { class: 'admin__spacer' }),
        h('button', { type: 'button', class: 'button button--small button--ghost', text: '↑', disabled: index === 0, 'aria-label': t('admin.move_up'), title: t('admin.move_up'), onclick: () => this.move(index, -1) }),
        h('button', { type: 'button', class: 'button button--small button--ghost', text: '↓', disabled: last, 'aria-label': t('admin.move_down'), title: t('admin.move_down'), onclick: () => this.move(index, 1) })),
      h('div', { class: 'admin__row' },
        field('admin.col_name', name),
        field('admin.service_description', description, 'admin__field--wide')),
      h('div', { class: 'admin__actions' },
        h('label', { class: 'checkbox' }, active, ` ${t('admin.col_active')}`),
        saveButton,
        editorToggle),
      this.categories(service),
      editorOpen ? this.editor(service) : null);
  }

  categories(service) {
    const items = (service.categories || []).map((category) => {
      const name = input({ value: category.name, maxlength: '120', class: 'input input--small', 'aria-label': t('admin.category_name') });
      const active = h('input', { type: 'checkbox', checked: category.active, 'aria-label': t('admin.col_active') });
      const patch = async (change) => {
        try {
          await api('PATCH', `/api/admin/categories/${category.id}`, change);
          this.notice(t('admin.saved'), { kind: 'info' });
        } catch (error) {
          this.fail(error);
        }
        await this.load();
      };
      name.addEventListener('change', () => patch({ name: name.value.trim() }));
      active.addEventListener('change', () => patch({ active: active.checked }));
      return h('li', { class: `admin__category${category.active ? '' : ' is-inactive'}` }, active, name);
    });
    const newName = input({ class: 'input input--small', maxlength: '120', placeholder: t('admin.category_new'), 'aria-label': t('admin.category_new') });
    const add = h('button', {
      type: 'button', class: 'button button--small', text: t('admin.category_add'),
      onclick: async (event) => {
        if (!newName.value.trim()) return;
        await busy(event.currentTarget, () => api('POST', `/api/admin/services/${service.id}/categories`, { name: newName.value.trim() }), (error) => this.fail(error));
        await this.load();
      },
    });
    return h('div', { class: 'admin__categories' },
      h('p', { class: 'label', text: t('admin.categories') }),
      items.length ? h('ul', { class: 'admin__category-list' }, items) : h('p', { class: 'empty', text: t('admin.categories_empty') }),
      h('div', { class: 'admin__inline' }, newName, add));
  }

  editor(service) {
    const hours = new HoursEditor(service.schedule);
    const sla = new SlaEditor(service.sla_targets, service.inactivity_policy);
    const prechat = new PrechatEditor(service.prechat_fields, service.id);
    const error = formError();
    const save = h('button', {
      type: 'button', class: 'button button--primary', id: `service-${service.id}-save-hours`, text: t('admin.hours_save'),
      onclick: async (event) => {
        error.clear();
        const saved = await busy(event.currentTarget,
          () => api('PATCH', `/api/admin/services/${service.id}`, { schedule: hours.value(), ...sla.value(), ...prechat.value() }),
          (problem) => error.show(problem));
        if (!saved) return;
        this.notice(t('admin.hours_saved', { name: service.name }), { kind: 'info' });
        await this.load();
      },
    });
    return h('div', { class: 'admin__editor', id: `service-${service.id}-editor` },
      h('div', { class: 'admin__editor-grid' }, hours.el, sla.el),
      prechat.el,
      error.el,
      save);
  }
}
