// A service's business hours: time zone, opening intervals per weekday, holidays.
// Reads and writes the format of ticketing.business_hours.Schedule.to_dict():
//   {timezone, weekly: {mon: ["09:00-18:00"]}, holidays: ["2026-12-25"], exceptions: {...}}
// Exceptions (special opening days) have no editor yet and are kept as they are.
import { h } from '../lib/dom.js';
import { currentLanguage, t } from '../i18n.js';
import { field, input, newId } from './admin_common.js';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
// 2024-01-01 was a Monday: its week names the days in the console's language.
const A_MONDAY = Date.UTC(2024, 0, 1, 12);
const DEFAULT_OPEN = ['09:00', '18:00'];

function weekdayName(index) {
  return new Intl.DateTimeFormat(currentLanguage(), { weekday: 'long', timeZone: 'UTC' })
    .format(new Date(A_MONDAY + index * 86_400_000));
}

function zones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return [];
  }
}

export class HoursEditor {
  constructor(schedule) {
    const given = schedule || {};
    this.exceptions = given.exceptions || {};
    this.zone = input({ value: given.timezone || 'UTC', list: 'admin-zones', maxlength: '64', class: 'input hours__zone' });
    this.days = WEEKDAYS.map((day, index) => this.dayRow(day, index, given.weekly?.[day] || []));
    this.holidays = h('ul', { class: 'hours__holidays' });
    for (const date of given.holidays || []) this.addHoliday(date);
    this.newHoliday = input({ type: 'date', class: 'input input--small hours__new-holiday', 'aria-label': t('admin.hours_holiday_date') });
    const datalist = document.getElementById('admin-zones')
      ? null
      : h('datalist', { id: 'admin-zones' }, zones().map((zone) => h('option', { value: zone })));
    this.el = h('fieldset', { class: 'hours' },
      h('legend', { class: 'admin__legend', text: t('admin.hours_title') }),
      datalist,
      field('admin.hours_timezone', this.zone),
      h('table', { class: 'hours__week' }, h('tbody', {}, this.days.map((d) => d.row))),
      h('p', { class: 'admin__hint-line', text: t('admin.hours_midnight_hint') }),
      h('div', { class: 'hours__holiday-block' },
        h('p', { class: 'label', text: t('admin.hours_holidays') }),
        this.holidays,
        h('div', { class: 'admin__inline' },
          this.newHoliday,
          h('button', {
            type: 'button',
            class: 'button button--small hours__add-holiday',
            text: t('admin.hours_add_holiday'),
            onclick: () => {
              if (this.newHoliday.value) this.addHoliday(this.newHoliday.value);
              this.newHoliday.value = '';
            },
          }))));
    this.finish();
  }

  dayRow(day, index, ranges) {
    const list = h('div', { class: 'hours__ranges' });
    const row = h('tr', { dataset: { day } },
      h('th', { scope: 'row', class: 'hours__day', text: weekdayName(index) }),
      h('td', {}, list,
        h('button', {
          type: 'button',
          class: 'button button--small button--ghost hours__add',
          text: t('admin.hours_add_interval'),
          onclick: () => this.addRange(list, ...DEFAULT_OPEN),
        })));
    for (const range of ranges) {
      const [start, end] = String(range).split('-');
      this.addRange(list, start, end === '24:00' ? '00:00' : end);
    }
    return { day, row, list };
  }

  addRange(list, start, end) {
    const id = newId('hours');
    const empty = list.querySelector('.hours__closed');
    if (empty) empty.remove();
    list.append(h('span', { class: 'hours__range' },
      h('input', { class: 'input input--small', type: 'time', value: start, id: `${id}-from`, 'aria-label': t('admin.hours_from') }),
      h('span', { 'aria-hidden': 'true', text: '–' }),
      h('input', { class: 'input input--small', type: 'time', value: end, id: `${id}-to`, 'aria-label': t('admin.hours_to') }),
      h('button', {
        type: 'button',
        class: 'button button--small button--ghost hours__remove',
        'aria-label': t('admin.hours_remove_interval'),
        title: t('admin.hours_remove_interval'),
        text: '×',
        onclick: (event) => {
          event.currentTarget.parentElement.remove();
          this.markClosed(list);
        },
      })));
  }

  markClosed(list) {
    if (!list.querySelector('.hours__range')) list.append(h('span', { class: 'hours__closed', text: t('admin.hours_closed') }));
  }

  addHoliday(date) {
    if ([...this.holidays.children].some((li) => li.dataset.date === date)) return;
    const item = h('li', { class: 'tag hours__holiday', dataset: { date } },
      h('time', { datetime: date, text: date }),
      h('button', {
        type: 'button',
        class: 'hours__holiday-remove',
        'aria-label': t('admin.hours_remove_holiday', { date }),
        text: '×',
        onclick: () => item.remove(),
      }));
    const after = [...this.holidays.children].find((li) => li.dataset.date > date);
    this.holidays.insertBefore(item, after || null);
  }

  /** The schedule to send; the server checks it (and says what is wrong). */
  value() {
    const weekly = {};
    for (const { day, list } of this.days) {
      const ranges = [...list.querySelectorAll('.hours__range')].map((span) => {
        const [from, to] = span.querySelectorAll('input');
        return `${from.value}-${to.value}`; // an end of 00:00 means midnight (24:00)
      });
      if (ranges.length) weekly[day] = ranges;
    }
    return {
      timezone: this.zone.value.trim(),
      weekly,
      holidays: [...this.holidays.children].map((li) => li.dataset.date),
      exceptions: this.exceptions,
    };
  }

  /** Show "Closed" on days without intervals. */
  finish() {
    for (const { list } of this.days) this.markClosed(list);
  }
}
