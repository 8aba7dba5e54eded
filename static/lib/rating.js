// The satisfaction prompt: five buttons (1–5), an optional comment, Send.
// Used by the widget after a chat and by the survey page a signed email link opens.
import { h } from './dom.js';
import { t } from '../i18n.js';

const SCALE = [1, 2, 3, 4, 5];
// Matches the server's limit for `rate.comment` (docs/protocol.md).
const MAX_COMMENT_CHARS = 2000;

/**
 * @param {object} options
 *   idPrefix   unique prefix for element ids (labels need them)
 *   question   the legend (default: "How was your chat?"; the portal asks about a ticket)
 *   onSubmit({rating, comment})  called when a rating is chosen and Send is pressed
 * @returns {{element, setBusy(bool), showError(text), reset()}}
 */
export function createRating({ idPrefix, onSubmit, question = t('rating.question') }) {
  let rating = null;
  const commentId = `${idPrefix}-comment`;
  const errorId = `${idPrefix}-error`;
  const legendId = `${idPrefix}-legend`;

  const buttons = SCALE.map((value) => h('button', {
    type: 'button',
    class: 'cd-rating__option',
    'aria-pressed': 'false',
    'aria-label': t('rating.option', { n: value, label: t(`rating.label_${value}`) }),
    title: t(`rating.label_${value}`),
    dataset: { rating: String(value) },
    onclick: () => choose(value),
  }, String(value)));

  const error = h('p', { class: 'cd-rating__error', id: errorId, role: 'alert', hidden: true });
  const comment = h('textarea', {
    id: commentId,
    class: 'cd-rating__comment',
    rows: '2',
    maxlength: String(MAX_COMMENT_CHARS),
  });
  const submit = h('button', { type: 'submit', class: 'cd-button', text: t('rating.send') });

  const element = h('form', { class: 'cd-rating', novalidate: true },
    h('fieldset', { class: 'cd-rating__fieldset', 'aria-describedby': errorId },
      h('legend', { id: legendId, class: 'cd-rating__legend', text: question }),
      h('div', { class: 'cd-rating__options', role: 'group', 'aria-labelledby': legendId }, buttons),
      h('div', { class: 'cd-rating__scale', 'aria-hidden': 'true' },
        h('span', { text: t('rating.label_1') }),
        h('span', { text: t('rating.label_5') }),
      ),
    ),
    h('label', { for: commentId, class: 'cd-label', text: t('rating.comment') }),
    comment,
    error,
    submit,
  );

  function choose(value) {
    rating = value;
    for (const button of buttons) {
      button.setAttribute('aria-pressed', String(Number(button.dataset.rating) === value));
    }
    showError('');
  }

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }

  element.addEventListener('submit', (event) => {
    event.preventDefault();
    if (rating === null) {
      showError(t('rating.choose'));
      buttons[0].focus();
      return;
    }
    onSubmit({ rating, comment: comment.value.trim() });
  });

  return {
    element,
    showError,
    setBusy(busy) {
      submit.disabled = busy;
      for (const button of buttons) button.disabled = busy;
    },
    reset() {
      rating = null;
      comment.value = '';
      for (const button of buttons) button.setAttribute('aria-pressed', 'false');
      showError('');
      this.setBusy(false);
    },
  };
}
