// SLA in the console: a badge per ticket in the list (breached red, warning amber,
// otherwise when it is due), and the two clocks — pickup and resolution — of one
// ticket with their due times and remaining business time.
// The server computes every clock (ticketing/sla.py); this only words it.
import { h } from '../lib/dom.js';
import { formatDateTime, formatNumber, t } from '../i18n.js';

const DONE = new Set(['resolved', 'closed']);
const CLOCKS = ['pickup', 'resolution'];

const DAY_MS = 24 * 60 * 60 * 1000;

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** A time, short for a crowded list: "2:09 PM" today, "Fri 2:09 PM" this week, else "Nov 27". */
export function formatDue(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const now = new Date();
  if (sameDay(date, now)) return formatDateTime(date, { hour: 'numeric', minute: '2-digit' });
  if (Math.abs(date - now) < 6 * DAY_MS) {
    return formatDateTime(date, { weekday: 'short', hour: 'numeric', minute: '2-digit' });
  }
  return formatDateTime(date, { day: 'numeric', month: 'short' });
}

/** Business time, e.g. "2 h 05 min" or "40 min" (the seeds measure SLAs in hours). */
export function formatBusinessTime(seconds) {
  const total = Math.max(0, Math.round(Math.abs(seconds) / 60));
  const hours = Math.floor(total / 60);
  const minutes = total % 60;
  if (!hours) return t('sla.minutes', { minutes: formatNumber(minutes) });
  return t('sla.hours_minutes', {
    hours: formatNumber(hours),
    minutes: String(minutes).padStart(2, '0'),
  });
}

/** The list's SLA cell for a ticket summary (sla_breached, sla_warned, *_due_at). */
export function slaBadge(ticket) {
  const breached = Array.isArray(ticket.sla_breached) ? ticket.sla_breached : [];
  const warned = Array.isArray(ticket.sla_warned) ? ticket.sla_warned : [];
  const clockNames = (list) => list.map((clock) => t(`sla.clock_${clock}`)).join(', ');
  if (breached.length) {
    return h('span', {
      class: 'sla sla--breached',
      title: t('sla.breached_clocks', { clocks: clockNames(breached) }),
      text: t('sla.breached'),
    });
  }
  if (DONE.has(ticket.status)) return null;
  const due = ticket.pickup_due_at || ticket.resolution_due_at;
  if (!due) return null;
  const clock = ticket.pickup_due_at ? 'pickup' : 'resolution';
  const warning = warned.includes(clock) || warned.length > 0;
  return h('span', {
    class: `sla ${warning ? 'sla--warning' : 'sla--ok'}`,
    title: `${t(`sla.clock_${clock}`)}: ${formatDateTime(due)}`,
    text: t('sla.due', { time: formatDue(due) }),
  });
}

/** One clock's state in words, and its CSS modifier. */
function clockState(clock) {
  if (!clock || clock.target_seconds === null || clock.target_seconds === undefined) {
    return { kind: 'none', text: t('sla.no_target') };
  }
  const remaining = clock.remaining_seconds ?? 0;
  if (clock.breached) {
    return {
      kind: 'breached',
      text: clock.stopped
        ? t('sla.state_breached')
        : t('sla.overdue_by', { time: formatBusinessTime(remaining) }),
    };
  }
  if (clock.stopped) return { kind: 'met', text: t('sla.state_met') };
  if (clock.paused) return { kind: 'paused', text: t('sla.state_paused', { time: formatBusinessTime(remaining) }) };
  if (!clock.due_at) return { kind: 'idle', text: t('sla.state_not_started') };
  if (clock.warning) return { kind: 'warning', text: t('sla.left_warning', { time: formatBusinessTime(remaining) }) };
  return { kind: 'ok', text: t('sla.left', { time: formatBusinessTime(remaining) }) };
}

/** The detail's SLA block: one row per clock; a breached one is red and says by how much. */
export function slaSection(sla) {
  if (!sla) return null;
  return h('div', { class: 'sla-clocks' }, CLOCKS.map((name) => {
    const clock = sla[name];
    const state = clockState(clock);
    return h('div', { class: `sla-clock sla-clock--${state.kind}`, dataset: { clock: name, state: state.kind } },
      h('span', { class: 'sla-clock__name', text: t(`sla.clock_${name}`) }),
      h('span', { class: 'sla-clock__state', text: state.text }),
      clock?.due_at
        ? h('span', { class: 'sla-clock__due' },
          t('sla.due_label'), ' ',
          h('time', { datetime: clock.due_at, text: formatDateTime(clock.due_at) }))
        : null,
    );
  }));
}
