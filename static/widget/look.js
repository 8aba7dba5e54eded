// The desk's look, set by an admin in the console (Admin → Widget): brand colour and
// the greeting above the form. Read from GET /api/widget/config; an empty greeting
// keeps the translated default. Also the preview mode the Admin tab embeds
// (/widget?preview=1): the real form, no websocket, updated live by postMessage.
import { byId } from '../lib/dom.js';
import { t } from '../i18n.js';

/** {color, position, greeting: {lang: text}}, or {} when it can't be read. */
export async function loadLook() {
  try {
    const response = await fetch('/api/widget/config', { credentials: 'omit' });
    return response.ok ? await response.json() : {};
  } catch {
    return {};
  }
}

/** The admin's greeting for `lang`, else the translated default. */
export function applyGreeting(greeting, lang) {
  const text = typeof greeting?.[lang] === 'string' ? greeting[lang].trim() : '';
  byId('form-intro').textContent = text || t('widget.form_intro');
}

/**
 * Preview: the real services, shown as if someone were online so the form shows its
 * greeting (the form's handlers are no-ops there: nothing is sent).
 */
export async function startPreview({ form, showScreen }) {
  let services = [];
  try {
    const response = await fetch('/api/services');
    services = response.ok ? (await response.json()).services || [] : [];
  } catch { /* the form works without a service list */ }
  form.setServices(services.map((service) => ({ ...service, open: true, available: true })));
  byId('widget').setAttribute('aria-busy', 'false');
  showScreen('form');
}
