// Admin → Agents: who works the desk. Add an agent (email, name, first password);
// change each one's role, services, capacity and whether they may sign in. Every
// change is saved at once (PATCH /api/admin/agents/{id}) and audited by the server.
import { api } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { t } from '../i18n.js';
import { busy, field, formError, input, sectionHead } from './admin_common.js';

const MAX_CAPACITY = 50;

export class AgentsPanel {
  /** root: the section element; notice(text, options) for the console's notices. */
  constructor(root, { notice, fail }) {
    this.root = root;
    this.notice = notice;
    this.fail = fail;
    this.services = [];
    this.error = formError();
    this.form = this.createForm();
    this.body = h('tbody', { id: 'agents-body' });
    replace(root,
      sectionHead('admin.agents_title', () => this.load(), 'admin-agents-title'),
      this.form,
      h('div', { class: 'table-wrap admin__table' },
        h('table', { class: 'table table--static', id: 'agents-table' },
          h('thead', {}, h('tr', {}, ['admin.col_name', 'admin.col_email', 'admin.col_role', 'admin.col_services', 'admin.col_capacity', 'admin.col_active']
            .map((key) => h('th', { scope: 'col', text: t(key) })))),
          this.body)));
  }

  createForm() {
    this.fields = {
      email: input({ id: 'agent-new-email', type: 'email', maxlength: '254', required: true }),
      name: input({ id: 'agent-new-name', maxlength: '120', required: true }),
      password: input({ id: 'agent-new-password', type: 'password', minlength: '8', maxlength: '1024', autocomplete: 'new-password', required: true }),
      role: h('select', { class: 'input', id: 'agent-new-role' },
        h('option', { value: 'agent', text: t('admin.role.agent') }),
        h('option', { value: 'admin', text: t('admin.role.admin') })),
    };
    const submit = h('button', { type: 'submit', class: 'button button--primary', id: 'agent-new-submit', text: t('admin.agent_create') });
    return h('form', {
      class: 'admin__form', id: 'agent-form', novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        this.create(submit);
      },
    },
    h('h3', { class: 'admin__subtitle', text: t('admin.agent_add') }),
    h('div', { class: 'admin__row' },
      field('admin.col_email', this.fields.email),
      field('admin.col_name', this.fields.name),
      field('admin.agent_password', this.fields.password),
      field('admin.col_role', this.fields.role, 'admin__field--narrow')),
    h('p', { class: 'admin__hint-line', text: t('admin.agent_password_hint') }),
    this.error.el,
    submit);
  }

  reset() {
    this.body.replaceChildren();
    this.form.reset();
    this.error.clear();
  }

  async load() {
    let agents, services;
    try {
      [agents, services] = await Promise.all([api('GET', '/api/admin/agents'), api('GET', '/api/admin/services')]);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.services = Array.isArray(services?.items) ? services.items : [];
    const items = Array.isArray(agents?.items) ? agents.items : [];
    this.body.replaceChildren(...items.map((agent) => this.row(agent)));
  }

  async create(submit) {
    const { email, name, password, role } = this.fields;
    const problem = !email.value.trim() || !name.value.trim() ? t('admin.agent_missing')
      : password.value.length < 8 ? t('admin.agent_password_short') : '';
    this.error.show(problem);
    if (problem) return;
    const created = await busy(submit, () => api('POST', '/api/admin/agents', {
      email: email.value.trim(),
      name: name.value.trim(),
      password: password.value,
      role: role.value,
    }), (error) => this.error.show(error));
    if (!created) return;
    this.form.reset();
    this.notice(t('admin.agent_created', { name: created.name || '' }), { kind: 'info' });
    await this.load();
  }

  /** Save one change; on refusal say why and show the server's state again. */
  async patch(agent, change) {
    try {
      await api('PATCH', `/api/admin/agents/${agent.id}`, change);
      this.notice(t('admin.saved'), { kind: 'info' });
    } catch (error) {
      this.fail(error);
      await this.load();
    }
  }

  row(agent) {
    const role = h('select', {
      class: 'input input--small',
      'aria-label': t('admin.col_role'),
      onchange: () => this.patch(agent, { role: role.value }),
    }, ['agent', 'admin'].map((value) => h('option', { value, selected: agent.role === value, text: t(`admin.role.${value}`) })));
    const capacity = h('input', {
      class: 'input input--small admin__number',
      type: 'number', min: '0', max: String(MAX_CAPACITY), value: String(agent.capacity ?? 0),
      'aria-label': t('admin.col_capacity'),
      onchange: () => this.patch(agent, { capacity: Number(capacity.value) }),
    });
    const mine = new Set(agent.services || []);
    const services = h('div', { class: 'admin__checks' }, this.services.map((service) => h('label', { class: 'checkbox' },
      h('input', {
        type: 'checkbox',
        value: String(service.id),
        checked: mine.has(service.id),
        onchange: (event) => {
          const boxes = event.currentTarget.closest('.admin__checks').querySelectorAll('input:checked');
          this.patch(agent, { services: [...boxes].map((box) => Number(box.value)) });
        },
      }),
      ` ${service.name}`)));
    const active = h('input', {
      type: 'checkbox',
      checked: agent.active !== false,
      'aria-label': t('admin.col_active'),
      onchange: () => this.patch(agent, { active: active.checked }),
    });
    return h('tr', { dataset: { agentId: String(agent.id) } },
      h('td', { class: 'admin__strong', text: agent.name || '' }),
      h('td', { class: 'admin__email', text: agent.email || '' }),
      h('td', {}, role),
      h('td', {}, services),
      h('td', {}, capacity),
      h('td', {}, active));
  }
}
