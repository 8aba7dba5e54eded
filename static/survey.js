// The page a signed survey link opens: /survey?token=… — rate 1–5, comment, send.
// POST /api/surveys/{token} {rating, comment}; the server's error (already answered,
// link expired…) is shown as it words it.
import { api } from './lib/api.js';
import { byId } from './lib/dom.js';
import { errorText } from './lib/notices.js';
import { createRating } from './lib/rating.js';
import { applyTranslations, loadStrings, t } from './i18n.js';

async function main() {
  const params = new URLSearchParams(location.search);
  await loadStrings(params.get('lang'));
  applyTranslations(document);
  const card = byId('survey-card');
  const problem = byId('survey-problem');
  const token = params.get('token');
  card.setAttribute('aria-busy', 'false');

  function showProblem(text) {
    problem.textContent = text;
    problem.hidden = !text;
  }

  if (!token) {
    byId('survey-intro').hidden = true;
    showProblem(t('survey.no_token'));
    return;
  }

  const rating = createRating({
    idPrefix: 'survey',
    onSubmit: async ({ rating: value, comment }) => {
      rating.setBusy(true);
      showProblem('');
      try {
        await api('POST', `/api/surveys/${encodeURIComponent(token)}`, { rating: value, comment });
        rating.element.hidden = true;
        byId('survey-intro').hidden = true;
        byId('survey-done').hidden = false;
        byId('survey-title').focus();
      } catch (error) {
        rating.setBusy(false);
        showProblem(errorText(error, { preferServer: true }));
      }
    },
  });
  byId('survey-form').append(rating.element);
  const preset = Number(params.get('rating'));
  if (preset >= 1 && preset <= 5) rating.element.querySelector(`[data-rating="${preset}"]`)?.click();
}

main().catch((error) => console.error(error));
