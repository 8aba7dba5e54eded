// The "/" picker in a chat's composer: typing "/ref" lists the canned responses whose
// shortcut or title match; ↑/↓ choose, Enter or Tab inserts, Escape closes.
// The server fills in {customer_name} and the other placeholders for this chat
// (GET /api/canned?chat_id=…), so the text inserted is exactly what will be sent —
// and, like every text here, it is only ever set as text, never parsed as HTML.
import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { t } from '../i18n.js';

const MAX_SHOWN = 8;
// Responses rarely change mid-chat; fetch again after this long or after an edit.
const FRESH_MS = 60_000;
// "/word" right before the caret, at the start or after a space.
const TRIGGER = /(^|\s)\/([a-z0-9_-]*)$/;

let version = 0;
/** The manager changed a response: every picker fetches the list again next time. */
export function cannedChanged() {
  version += 1;
}

/** Best matches first: shortcut starts with the query, then shortcut or title contains it. */
export function matchCanned(items, query) {
  const q = query.toLowerCase();
  const rank = (item) => {
    if (item.shortcut.startsWith(q)) return 0;
    if (item.shortcut.includes(q)) return 1;
    if (item.title.toLowerCase().includes(q)) return 2;
    return -1;
  };
  return items
    .map((item) => [rank(item), item])
    .filter(([r]) => r >= 0)
    .sort((a, b) => a[0] - b[0])
    .map(([, item]) => item);
}

export class CannedPicker {
  /**
   * @param {HTMLTextAreaElement} input  the composer
   * @param {object} context  chatId; onManage() opens the manager
   */
  constructor(input, context) {
    this.input = input;
    this.context = context;
    this.items = null;
    this.loadedAt = 0;
    this.loadedVersion = -1;
    this.shown = [];
    this.active = 0;
    this.range = null; // [start, end] of the "/word" being replaced
    this.loading = null;
    const listId = `canned-list-${context.chatId}`;
    this.list = h('ul', {
      class: 'canned-picker__list', role: 'listbox', id: listId,
      'aria-label': t('canned.picker_label'),
    });
    this.status = h('p', { class: 'canned-picker__status', role: 'status' });
    this.el = h('div', { class: 'canned-picker', hidden: true },
      this.list,
      this.status,
      h('div', { class: 'canned-picker__foot' },
        h('span', { class: 'canned-picker__keys', text: t('canned.picker_keys') }),
        h('button', {
          type: 'button', class: 'button button--small button--ghost', text: t('canned.manage'),
          // mousedown, not click: the composer must not lose focus (and close us) first.
          onmousedown: (event) => {
            event.preventDefault();
            this.close();
            context.onManage?.();
          },
        }),
      ),
    );
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', listId);
    input.addEventListener('input', () => this.update());
    input.addEventListener('click', () => this.update());
    input.addEventListener('blur', () => this.close());
  }

  get isOpen() {
    return !this.el.hidden;
  }

  /** Called first by the composer's keydown; true when the key was ours. */
  handleKey(event) {
    if (!this.isOpen) return false;
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (this.shown.length) {
        const step = event.key === 'ArrowDown' ? 1 : -1;
        this.setActive((this.active + step + this.shown.length) % this.shown.length);
      }
      return true;
    }
    if ((event.key === 'Enter' || event.key === 'Tab') && !event.shiftKey && !event.isComposing) {
      if (!this.shown.length) {
        if (event.key === 'Tab') return false;
        event.preventDefault();
        return true; // nothing matches: don't send "/xyz" by accident
      }
      event.preventDefault();
      this.insert(this.shown[this.active]);
      return true;
    }
    if (event.key === 'Escape') {
      event.preventDefault();
      this.close();
      return true;
    }
    return false;
  }

  async update() {
    const caret = this.input.selectionStart;
    const match = caret === this.input.selectionEnd
      ? TRIGGER.exec(this.input.value.slice(0, caret))
      : null;
    if (!match) {
      this.close();
      return;
    }
    this.range = [caret - match[2].length - 1, caret];
    const query = match[2];
    this.open();
    if (!this.isFresh()) {
      this.render([], t('console.loading'));
      try {
        await this.load();
      } catch (error) {
        this.render([], errorText(error, { preferServer: true }));
        return;
      }
      // The agent kept typing meanwhile: render for what is there now.
      if (!this.isOpen) return;
      this.update();
      return;
    }
    const shown = matchCanned(this.items, query).slice(0, MAX_SHOWN);
    this.render(shown, shown.length ? '' : this.items.length
      ? t('canned.no_match', { query: `/${query}` })
      : t('canned.none_yet'));
  }

  isFresh() {
    return this.items !== null && this.loadedVersion === version && Date.now() - this.loadedAt < FRESH_MS;
  }

  /** One request at a time, however fast the agent types. */
  load() {
    this.loading ??= (async () => {
      const asked = version;
      try {
        const data = await api('GET', `/api/canned?chat_id=${encodeURIComponent(this.context.chatId)}`);
        this.items = Array.isArray(data?.items) ? data.items : [];
        this.loadedAt = Date.now();
        this.loadedVersion = asked;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  render(shown, statusText) {
    const previous = this.shown[this.active]?.id;
    this.shown = shown;
    const keep = shown.findIndex((item) => item.id === previous);
    this.active = keep >= 0 ? keep : 0;
    this.list.replaceChildren(...shown.map((item, index) => h('li', {
      role: 'option',
      id: `canned-${this.context.chatId}-${item.id}`,
      class: 'canned-option',
      'aria-selected': String(index === this.active),
      onmousedown: (event) => {
        event.preventDefault();
        this.insert(item);
      },
      onmousemove: () => {
        if (this.active !== index) this.setActive(index);
      },
    },
      h('span', { class: 'canned-option__head' },
        h('span', { class: 'canned-option__shortcut', text: `/${item.shortcut}` }),
        h('span', { class: 'canned-option__title', text: item.title }),
        item.shared ? null : h('span', { class: 'canned-option__badge', text: t('canned.personal') }),
      ),
      h('span', { class: 'canned-option__text', text: item.text ?? item.body }),
    )));
    this.list.hidden = !shown.length;
    this.status.textContent = statusText || '';
    this.status.hidden = !statusText;
    this.setActive(this.active);
  }

  setActive(index) {
    this.active = index;
    const options = this.list.children;
    for (let i = 0; i < options.length; i += 1) {
      options[i].setAttribute('aria-selected', String(i === index));
    }
    const current = options[index];
    if (current) {
      this.input.setAttribute('aria-activedescendant', current.id);
      current.scrollIntoView({ block: 'nearest' });
    } else {
      this.input.removeAttribute('aria-activedescendant');
    }
  }

  /** Replace the "/word" with the response's text and put the caret after it. */
  insert(item) {
    if (!item || !this.range) return;
    const [start, end] = this.range;
    const text = item.text ?? item.body;
    const value = this.input.value;
    this.input.value = value.slice(0, start) + text + value.slice(end);
    const caret = start + text.length;
    this.input.setSelectionRange(caret, caret);
    this.close();
    this.input.focus();
    // The composer grows to fit and tells the customer we're typing, as for keystrokes.
    this.input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  open() {
    this.el.hidden = false;
  }

  close() {
    if (this.el.hidden) return;
    this.el.hidden = true;
    this.range = null;
    this.input.removeAttribute('aria-activedescendant');
  }
}
