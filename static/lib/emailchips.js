// A list of email addresses as removable chips, with completion from addresses the
// page has seen before (a <datalist>): the CC box of the new-ticket forms and of a
// ticket's fields. Typing a comma, a space, Enter or leaving the box adds the address.
import { h } from './dom.js';
import { t } from '../i18n.js';
import { looksLikeEmail, splitEmails } from './ticketlabels.js';

/**
 * @param {object} options
 *   id          the text input's id (for its <label for>)
 *   listId      id of a <datalist> of known addresses (optional)
 *   values      initial addresses
 *   onChange(values)  after every change (optional)
 * @returns {{element, input, values(): string[], set(values), clear(), commit(): boolean}}
 */
export function createEmailChips({ id, listId, values = [], onChange }) {
  let emails = [];
  const chips = h('ul', { class: 'chips__list' });
  const input = h('input', {
    id,
    class: 'chips__input',
    type: 'email',
    autocomplete: 'off',
    list: listId || null,
    placeholder: t('common.cc_placeholder'),
  });
  const error = h('p', { class: 'chips__error', role: 'alert', hidden: true });
  const element = h('div', { class: 'chips' },
    h('div', { class: 'chips__box' }, chips, input),
    error,
  );

  function render() {
    chips.replaceChildren(...emails.map((email) => h('li', { class: 'chips__chip' },
      h('span', { class: 'chips__text', text: email }),
      h('button', {
        type: 'button',
        class: 'chips__remove',
        'aria-label': t('common.remove_address', { email }),
        onclick: () => {
          emails = emails.filter((other) => other !== email);
          render();
          onChange?.(emails.slice());
          input.focus();
        },
      }, '×'),
    )));
  }

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
    input.setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  /** Move what is typed into chips; false (and a message) if some of it isn't an address. */
  function commit() {
    const typed = splitEmails(input.value);
    if (!typed.length) {
      showError('');
      return true;
    }
    const bad = typed.filter((email) => !looksLikeEmail(email));
    const good = typed.filter((email) => looksLikeEmail(email) && !emails.includes(email));
    emails = emails.concat([...new Set(good)]);
    input.value = bad.join(', ');
    render();
    if (good.length) onChange?.(emails.slice());
    showError(bad.length ? t('common.not_an_email', { email: bad[0] }) : '');
    return bad.length === 0;
  }

  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ',' || event.key === ';') {
      if (!input.value.trim()) return; // Enter on an empty box submits the form as usual
      event.preventDefault();
      commit();
    } else if (event.key === 'Backspace' && !input.value && emails.length) {
      emails = emails.slice(0, -1);
      render();
      onChange?.(emails.slice());
    }
  });
  // Picking a suggestion from the datalist fires `input` with a whole address.
  input.addEventListener('input', (event) => {
    if (event.inputType === 'insertReplacementText' || event.inputType === undefined) {
      if (looksLikeEmail(input.value.trim())) commit();
    } else if (/[\s,;]$/.test(input.value)) {
      commit();
    }
  });
  input.addEventListener('blur', () => commit());

  function set(list) {
    emails = [...new Set(splitEmails((list || []).join(',')))];
    input.value = '';
    showError('');
    render();
  }

  set(values);
  return {
    element,
    input,
    values: () => emails.slice(),
    set,
    clear: () => set([]),
    commit,
  };
}

/** Fill (or refresh) a <datalist> with known addresses; labels show the person's name. */
export function fillEmailList(datalist, people) {
  datalist.replaceChildren(...[...people.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([email, name]) => h('option', { value: email, label: name && name !== email ? name : null })));
}
