// The controls that change one ticket in the console: status (only the moves the
// server allows, with a close reason when closing), assignee, the editable fields
// and merge. Each builds a small form; `act(method, path, body)` sends the change
// and redraws the ticket from the server's answer (every change returns the detail).
import { h } from '../lib/dom.js';
import { createEmailChips } from '../lib/emailchips.js';
import { t } from '../i18n.js';
import {
  PRIORITIES, REQUEST_TYPES, label, priorityLabel, requestTypeLabel, statusLabel,
} from '../lib/ticketlabels.js';

function option(value, text, selected = false) {
  return h('option', { value, text, selected });
}

function field(id, text, control) {
  return h('div', { class: 'field' }, h('label', { class: 'label', for: id, text }), control);
}

/** Status: a select of `allowed_statuses`; closing asks for one of `close_reasons`. */
export function statusControl(ticket, act) {
  const allowed = ticket.allowed_statuses || [];
  if (!allowed.length) {
    return h('p', { class: 'ticket__final', text: t('tickets.status_final') });
  }
  const id = `status-${ticket.id}`;
  const select = h('select', { id, class: 'input input--small' },
    option('', t('tickets.status_choose')),
    allowed.map((status) => option(status, statusLabel(status))));
  const reasons = ticket.close_reasons || [];
  const reason = h('select', { class: 'input input--small', 'aria-label': t('tickets.close_reason'), hidden: true },
    reasons.map((value) => option(value, label('ticket.close_reason', value))));
  const apply = h('button', { type: 'submit', class: 'button button--small', text: t('tickets.apply'), disabled: true });
  select.addEventListener('change', () => {
    reason.hidden = select.value !== 'closed';
    apply.disabled = !select.value;
  });
  const form = h('form', { class: 'ticket-action', novalidate: true },
    h('label', { class: 'ticket-action__label', for: id, text: t('tickets.change_status') }),
    select, reason, apply);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!select.value) return;
    const body = { status: select.value };
    if (select.value === 'closed' && reason.value) body.reason = reason.value;
    act('POST', 'status', body);
  });
  return form;
}

/** Assignee: "Assign to me" / "Unassign", and for admins any other agent. */
export function assignControl(ticket, directory, act) {
  const me = directory.me();
  const current = ticket.agent?.id ?? null;
  const buttons = [];
  if (current !== me.id) {
    buttons.push(h('button', {
      type: 'button', class: 'button button--small', text: t('tickets.assign_me'),
      onclick: () => act('POST', 'assign', { agent_id: me.id }),
    }));
  }
  if (current !== null) {
    buttons.push(h('button', {
      type: 'button', class: 'button button--small button--ghost', text: t('tickets.unassign'),
      onclick: () => act('POST', 'assign', { agent_id: null }),
    }));
  }
  let picker = null;
  const others = directory.otherAgents().filter((agent) => agent.id !== current);
  if (directory.canListAgents && others.length) {
    const id = `assign-${ticket.id}`;
    const select = h('select', { id, class: 'input input--small', 'aria-label': t('tickets.assign_to') },
      option('', t('tickets.assign_to')),
      others.map((agent) => option(String(agent.id), agent.name || agent.email)));
    select.addEventListener('change', () => {
      if (select.value) act('POST', 'assign', { agent_id: Number(select.value) });
    });
    picker = select;
  }
  return h('div', { class: 'ticket-action' },
    h('span', { class: 'ticket-action__label', text: t('ticket.agent') }),
    h('strong', { class: 'ticket-action__value', text: ticket.agent?.name || t('console.unassigned') }),
    buttons, picker);
}

/** Priority, category, request type, tags and CC; Save sends only what changed. */
export function fieldsForm(ticket, directory, act) {
  const prefix = `fields-${ticket.id}`;
  const priority = h('select', { id: `${prefix}-priority`, class: 'input input--small' },
    PRIORITIES.map((value) => option(value, priorityLabel(value), value === ticket.priority)));
  const category = h('select', { id: `${prefix}-category`, class: 'input input--small', disabled: true },
    option('', t('ticket.category_none')));
  const categoryField = field(category.id, t('ticket.category'), category);
  categoryField.hidden = true;
  directory.categories(ticket.service_id).then((items) => {
    if (!items.length && ticket.category_id === null) return;
    category.append(...items.map((item) => option(String(item.id), item.name, item.id === ticket.category_id)));
    category.disabled = false;
    categoryField.hidden = false;
  });
  const requestType = h('select', { id: `${prefix}-type`, class: 'input input--small' },
    option('', t('ticket.request_type_none'), !ticket.request_type),
    REQUEST_TYPES.map((value) => option(value, requestTypeLabel(value), value === ticket.request_type)));
  const tags = h('input', {
    id: `${prefix}-tags`, class: 'input input--small', type: 'text', autocomplete: 'off',
    value: (ticket.tags || []).join(', '), placeholder: t('tickets.tags_placeholder'),
  });
  const cc = createEmailChips({ id: `${prefix}-cc`, listId: 'known-emails', values: ticket.cc || [] });
  const save = h('button', { type: 'submit', class: 'button button--small button--primary', text: t('tickets.save') });
  const form = h('form', { class: 'fields-form', novalidate: true },
    h('div', { class: 'fields-form__grid' },
      field(priority.id, t('ticket.priority'), priority),
      categoryField,
      field(requestType.id, t('ticket.request_type'), requestType),
      field(tags.id, t('ticket.tags'), tags),
    ),
    field(cc.input.id, t('ticket.cc'), cc.element),
    h('div', { class: 'fields-form__actions' }, save),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!cc.commit()) return;
    const changes = {};
    if (priority.value !== ticket.priority) changes.priority = priority.value;
    if (!category.disabled) {
      const value = category.value ? Number(category.value) : null;
      if (value !== (ticket.category_id ?? null)) changes.category_id = value;
    }
    const type = requestType.value || null;
    if (type !== (ticket.request_type ?? null)) changes.request_type = type;
    const tagList = [...new Set(tags.value.split(',').map((tag) => tag.trim().toLowerCase()).filter(Boolean))].sort();
    if (tagList.join(',') !== [...(ticket.tags || [])].sort().join(',')) changes.tags = tagList;
    const ccList = cc.values();
    if (ccList.join(',') !== (ticket.cc || []).join(',')) changes.cc = ccList;
    if (!Object.keys(changes).length) return;
    act('PATCH', '', changes);
  });
  return form;
}

/** Merge this ticket into another (it is closed as a duplicate; its thread is copied). */
export function mergeForm(ticket, act) {
  const id = `merge-${ticket.id}`;
  const input = h('input', { id, class: 'input input--small merge__input', type: 'number', min: '1', step: '1', inputmode: 'numeric', required: true });
  const form = h('form', { class: 'ticket-action', novalidate: true },
    h('label', { class: 'ticket-action__label', for: id, text: t('tickets.merge_into') }),
    input,
    h('button', { type: 'submit', class: 'button button--small button--danger-outline', text: t('tickets.merge') }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const into = Number(input.value);
    if (!Number.isInteger(into) || into < 1) {
      input.focus();
      return;
    }
    // Merging closes this ticket for good: ask first.
    if (!window.confirm(t('tickets.merge_confirm', { id: ticket.id, into }))) return;
    act('POST', 'merge', { into_id: into });
  });
  return form;
}
