// A ticket's conversation and its files, as the console and the portal show them.
// Internal notes only ever reach this code in the console (the portal's API never
// sends them); they are drawn unmistakably different: yellow, labelled.
import { h } from './dom.js';
import { formatDateTime, t } from '../i18n.js';
import { formatBytes, label } from './ticketlabels.js';

const AUTHORS = ['customer', 'agent', 'system'];

/** One message: author, role, time, body (always as text). */
export function renderMessage(message, { authorName } = {}) {
  const type = AUTHORS.includes(message.author_type) ? message.author_type : 'system';
  const name = authorName?.(message) || message.author_name;
  const classes = ['thread__item', `thread__item--${type}`];
  if (message.internal) classes.push('thread__item--internal');
  return h('li', { class: classes.join(' '), dataset: { messageId: String(message.id ?? '') } },
    h('div', { class: 'thread__head' },
      h('strong', { class: 'thread__author', text: name || label('ticket.author', type) }),
      name ? h('span', { class: 'thread__role', text: label('ticket.author', type) }) : null,
      message.internal ? h('span', { class: 'tag tag--internal', text: t('ticket.internal_note') }) : null,
      h('time', { datetime: message.created_at, text: formatDateTime(message.created_at) }),
    ),
    h('div', { class: 'thread__body', text: message.body || '' }),
  );
}

/** The whole thread, oldest first; an empty ticket says so. */
export function renderThread(messages, options) {
  if (!messages?.length) return h('p', { class: 'empty', text: t('ticket.no_messages') });
  return h('ol', { class: 'thread' }, messages.map((message) => renderMessage(message, options)));
}

/** Links to a ticket's files (the server decides inline or download). */
export function renderAttachments(attachments) {
  if (!attachments?.length) return h('p', { class: 'empty', text: t('ticket.no_attachments') });
  return h('ul', { class: 'attachments' }, attachments.map((file) => h('li', { class: 'attachments__item' },
    h('a', {
      class: 'attachments__link',
      href: file.url || `/api/attachments/${encodeURIComponent(file.id)}`,
      target: '_blank',
      rel: 'noopener',
      text: file.filename || t('ticket.attachment'),
    }),
    h('span', { class: 'attachments__meta', text: [formatBytes(file.size), formatDateTime(file.created_at)].filter(Boolean).join(' · ') }),
  )));
}

/**
 * A file picker and an "Attach" button. `onUpload(file)` returns a promise; the
 * control is busy meanwhile and cleared afterwards (whatever the outcome).
 */
export function createUploader({ id, onUpload }) {
  const input = h('input', { id, class: 'uploader__input', type: 'file' });
  const button = h('button', { type: 'button', class: 'button button--small', text: t('ticket.attach'), disabled: true });
  input.addEventListener('change', () => {
    button.disabled = !input.files?.length;
  });
  button.addEventListener('click', async () => {
    const file = input.files?.[0];
    if (!file) return;
    button.disabled = true;
    input.disabled = true;
    try {
      await onUpload(file);
      input.value = '';
    } finally {
      input.disabled = false;
      button.disabled = !input.files?.length;
    }
  });
  return h('div', { class: 'uploader' },
    h('label', { class: 'uploader__label', for: id, text: t('ticket.add_file') }),
    input,
    button,
  );
}
