// Small dismissible notices (errors from the server, connection news).
import { h } from './dom.js';
import { hasKey, t } from '../i18n.js';

// Long enough to read two lines; errors the person must act on stay until dismissed.
const AUTO_DISMISS_MS = 8_000;

/**
 * Show `text` in `container`. kind: 'error' | 'info'. Returns a function that removes it.
 * Repeating the same text replaces the old notice instead of stacking copies.
 */
export function showNotice(container, text, { kind = 'error', sticky = false } = {}) {
  for (const old of container.querySelectorAll('.cd-notice')) {
    if (old.dataset.text === text) old.remove();
  }
  const notice = h('div', {
    class: `cd-notice cd-notice--${kind}`,
    role: kind === 'error' ? 'alert' : 'status',
    dataset: { text },
  });
  const dismiss = () => notice.remove();
  notice.append(
    h('span', { class: 'cd-notice__text', text }),
    h('button', {
      type: 'button',
      class: 'cd-notice__dismiss',
      'aria-label': t('common.dismiss'),
      onclick: dismiss,
    }, '×'),
  );
  container.append(notice);
  if (!sticky) setTimeout(dismiss, AUTO_DISMISS_MS);
  return dismiss;
}

/** The text for an `error` frame or an API error: our translation, else the server's words. */
export function errorText(error, { preferServer = false } = {}) {
  const code = error?.code;
  // ApiError keeps the server's words in serverMessage; an `error` frame in message.
  const raw = error?.serverMessage ?? error?.message;
  const server = typeof raw === 'string' && raw ? raw : null;
  const key = `error.${code}`;
  const translated = code && hasKey(key) ? t(key) : null;
  if (preferServer) return server || translated || t('error.generic');
  return translated || server || t('error.generic');
}
