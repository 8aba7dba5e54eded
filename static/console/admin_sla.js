// A service's SLA targets per priority (ticketing.sla.SlaTargets.to_dict(): business
// hours to pick up and to resolve; empty = best effort) and, optionally, its
// inactivity policy (ticketing.policy.InactivityPolicy: reminders, then closing).
import { h } from '../lib/dom.js';
import { t } from '../i18n.js';
import { field } from './admin_common.js';

const PRIORITIES = ['P1', 'P2', 'P3', 'P4', 'P5'];
const POLICY_FIELDS = ['wait_days', 'reminders', 'reminder_interval_business_days', 'resolved_close_days'];

function hoursInput(value, label) {
  return h('input', {
    class: 'input input--small admin__number',
    type: 'number', min: '0', step: 'any',
    value: value == null ? '' : String(value),
    placeholder: t('admin.sla_best_effort'),
    'aria-label': label,
  });
}

function numberOrNull(inputEl) {
  const raw = inputEl.value.trim();
  return raw === '' ? null : Number(raw);
}

export class SlaEditor {
  constructor(targets, policy) {
    this.pickup = {};
    this.resolution = {};
    const rows = PRIORITIES.map((p) => {
      const name = t(`ticket.priority.${p}`);
      this.pickup[p] = hoursInput(targets?.pickup_hours?.[p], t('admin.sla_pickup_of', { priority: name }));
      this.resolution[p] = hoursInput(targets?.resolution_hours?.[p], t('admin.sla_resolution_of', { priority: name }));
      return h('tr', { dataset: { priority: p } },
        h('th', { scope: 'row', text: name }),
        h('td', {}, this.pickup[p]),
        h('td', {}, this.resolution[p]));
    });
    this.policyInputs = Object.fromEntries(POLICY_FIELDS.map((key) => [key, h('input', {
      class: 'input input--small admin__number', type: 'number', min: '0', max: '3650', step: '1',
      value: String(policy?.[key] ?? ''),
    })]));
    this.el = h('div', { class: 'sla' },
      h('fieldset', { class: 'sla__targets' },
        h('legend', { class: 'admin__legend', text: t('admin.sla_title') }),
        h('p', { class: 'admin__hint-line', text: t('admin.sla_hint') }),
        h('table', { class: 'sla__table' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col', text: t('admin.sla_priority') }),
            h('th', { scope: 'col', text: t('admin.sla_pickup') }),
            h('th', { scope: 'col', text: t('admin.sla_resolution') }))),
          h('tbody', {}, rows))),
      h('details', { class: 'sla__policy' },
        h('summary', { text: t('admin.policy_title') }),
        h('div', { class: 'admin__row' },
          POLICY_FIELDS.map((key) => field(`admin.policy.${key}`, this.policyInputs[key], 'admin__field--narrow')))));
  }

  /** {sla_targets, inactivity_policy} to send; the server validates the numbers. */
  value() {
    const hours = (inputs) => Object.fromEntries(PRIORITIES.map((p) => [p, numberOrNull(inputs[p])]));
    const policy = Object.fromEntries(POLICY_FIELDS.map((key) => [key, numberOrNull(this.policyInputs[key])]));
    const anyPolicy = Object.values(policy).some((v) => v !== null);
    return {
      sla_targets: { pickup_hours: hours(this.pickup), resolution_hours: hours(this.resolution) },
      inactivity_policy: anyPolicy
        ? Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== null))
        : null,
    };
  }
}
