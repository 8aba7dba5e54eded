// Small pieces every Admin section is built from: a section head with Refresh, labelled
// fields, a form error line, a two-step delete button. Server text only via textContent.
import { h } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { formatDateTime, hasKey, t } from '../i18n.js';

// A destructive button asks once more on itself; the question expires after this.
export const CONFIRM_MS = 4_000;
const SHORT = { dateStyle: 'short', timeStyle: 'short' };

let uid = 0;
/** A fresh element id, to tie a <label> to its control. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

export function time(iso) {
  if (!iso) return '';
  return h('time', { datetime: iso, title: formatDateTime(iso), text: formatDateTime(iso, SHORT) });
}

/** A long error in a table cell: two lines, the whole of it on hover. */
export function errorCell(text) {
  return h('td', {}, text ? h('span', { class: 'admin__error', title: text, text }) : null);
}

export function statusBadge(status) {
  const label = hasKey(`admin.status.${status}`) ? t(`admin.status.${status}`) : status;
  return h('span', { class: `status status--delivery-${status}`, text: label });
}

/** The section's title and a Refresh button. */
export function sectionHead(titleKey, onRefresh, id) {
  return h('div', { class: 'admin__head' },
    h('h2', { class: 'panel__title', id, text: t(titleKey) }),
    h('button', { type: 'button', class: 'button button--small', text: t('console.refresh'), onclick: onRefresh }));
}

/** <label> + control; the control gets an id when it has none. */
export function field(labelKey, control, extraClass = '') {
  if (!control.id) control.id = newId('admin-field');
  return h('div', { class: `admin__field ${extraClass}`.trim() },
    h('label', { class: 'label', for: control.id, text: t(labelKey) }),
    control);
}

export function input(props = {}) {
  return h('input', { class: 'input', autocomplete: 'off', ...props });
}

/** A form's error line: show(error|text) or clear(). */
export function formError() {
  const el = h('p', { class: 'form-error', role: 'alert', hidden: true });
  return {
    el,
    show(problem) {
      el.textContent = typeof problem === 'string' ? problem : errorText(problem, { preferServer: true });
      el.hidden = !el.textContent;
    },
    clear() {
      el.textContent = '';
      el.hidden = true;
    },
  };
}

/** A button that acts only on its second click (within CONFIRM_MS). */
export function confirmButton(labelKey, confirmKey, onConfirm, extra = {}) {
  const button = h('button', {
    type: 'button',
    class: 'button button--small button--danger-outline',
    text: t(labelKey),
    ...extra,
    onclick: () => {
      if (button.dataset.confirm !== 'yes') {
        button.dataset.confirm = 'yes';
        button.textContent = t(confirmKey);
        setTimeout(() => {
          button.dataset.confirm = '';
          button.textContent = t(labelKey);
        }, CONFIRM_MS);
        return;
      }
      onConfirm(button);
    },
  });
  return button;
}

/** Run `action` with `button` disabled; errors go to `onError`. Returns action's result. */
export async function busy(button, action, onError) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    onError(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}
