// Admin → Widget: brand colour, launcher side, greeting per language and the sites
// that may embed the widget (PUT /api/admin/widget). The preview is the real widget
// frame (/widget?preview=1: the form, no websocket) beside a launcher, updated by
// postMessage as the admin types — before anything is saved.
import { api } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { currentLanguage, SUPPORTED_LANGUAGES, t } from '../i18n.js';
import { busy, field, formError, input, sectionHead } from './admin_common.js';

const COLOR = /^#[0-9a-f]{6}$/i;
const DEFAULT_COLOR = '#1f6feb';
const MAX_GREETING = 500;
const LAUNCHER_ICON = 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z';

function languageName(lang) {
  try {
    return new Intl.DisplayNames([currentLanguage()], { type: 'language' }).of(lang) || lang;
  } catch {
    return lang;
  }
}

/** Dark icon on a light colour, white on a dark one (as the loader does). */
function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return 0.299 * r + 0.587 * g + 0.114 * b > 160 ? '#111111' : '#ffffff';
}

function launcherIcon() {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = svg.appendChild(document.createElementNS('http://www.w3.org/2000/svg', 'path'));
  path.setAttribute('d', LAUNCHER_ICON);
  return svg;
}

export class WidgetPanel {
  constructor(root, { notice, fail }) {
    this.root = root;
    this.notice = notice;
    this.fail = fail;
    this.previewLang = SUPPORTED_LANGUAGES.includes(currentLanguage()) ? currentLanguage() : 'en';
    this.frameReady = false;
    this.build();
    window.addEventListener('message', (event) => {
      const frame = this.frame?.contentWindow;
      if (!frame || event.source !== frame || event.origin !== location.origin) return;
      if (event.data?.chatdesk === true && event.data.type === 'ready') {
        this.frameReady = true;
        this.updatePreview();
      }
    });
  }

  build() {
    this.error = formError();
    this.picker = h('input', { type: 'color', class: 'widget-admin__picker', id: 'widget-color-picker', value: DEFAULT_COLOR, 'aria-label': t('admin.widget_color') });
    this.color = input({ id: 'widget-color', maxlength: '7', class: 'input widget-admin__hex', spellcheck: 'false' });
    this.picker.addEventListener('input', () => {
      this.color.value = this.picker.value;
      this.updatePreview();
    });
    this.color.addEventListener('input', () => {
      if (COLOR.test(this.color.value.trim())) this.picker.value = this.color.value.trim().toLowerCase();
      this.updatePreview();
    });
    this.positions = Object.fromEntries(['right', 'left'].map((side) => [side, h('input', {
      type: 'radio', name: 'widget-position', value: side, id: `widget-position-${side}`,
      onchange: () => this.updatePreview(),
    })]));
    this.greetings = Object.fromEntries(SUPPORTED_LANGUAGES.map((lang) => {
      const area = h('textarea', {
        class: 'input', rows: '2', maxlength: String(MAX_GREETING), id: `widget-greeting-${lang}`,
        placeholder: t('admin.widget_greeting_default'),
      });
      area.addEventListener('input', () => this.updatePreview());
      area.addEventListener('focus', () => this.setPreviewLang(lang));
      return [lang, area];
    }));
    this.origins = h('textarea', { class: 'input widget-admin__origins', rows: '4', id: 'widget-origins', spellcheck: 'false', placeholder: 'https://shop.example.com' });
    this.langSelect = h('select', {
      class: 'input input--small', id: 'widget-preview-lang', 'aria-label': t('admin.widget_preview_lang'),
      onchange: () => this.setPreviewLang(this.langSelect.value),
    }, SUPPORTED_LANGUAGES.map((lang) => h('option', { value: lang, text: languageName(lang), selected: lang === this.previewLang })));
    const save = h('button', { type: 'submit', class: 'button button--primary', id: 'widget-save', text: t('admin.widget_save') });

    this.launcher = h('span', { class: 'widget-preview__launcher', id: 'widget-preview-launcher', 'aria-hidden': 'true' }, launcherIcon());
    this.panel = h('div', { class: 'widget-preview__panel' });
    this.stage = h('div', { class: 'widget-preview__stage', id: 'widget-preview' },
      h('p', { class: 'widget-preview__site', 'aria-hidden': 'true', text: t('admin.widget_preview_site') }),
      this.panel, this.launcher);

    replace(this.root,
      sectionHead('admin.widget_title', () => this.load(), 'admin-widget-title'),
      h('div', { class: 'widget-admin' },
        h('form', {
          class: 'admin__form widget-admin__form', id: 'widget-form', novalidate: true,
          onsubmit: (event) => {
            event.preventDefault();
            this.save(save);
          },
        },
        h('div', { class: 'admin__field' },
          h('label', { class: 'label', for: 'widget-color', text: t('admin.widget_color') }),
          h('div', { class: 'admin__inline' }, this.picker, this.color)),
        h('fieldset', { class: 'admin__radios' },
          h('legend', { class: 'label', text: t('admin.widget_position') }),
          ['right', 'left'].map((side) => h('label', { class: 'checkbox' }, this.positions[side], ` ${t(`admin.widget_position_${side}`)}`))),
        h('fieldset', { class: 'admin__group' },
          h('legend', { class: 'label', text: t('admin.widget_greeting') }),
          h('p', { class: 'admin__hint-line', text: t('admin.widget_greeting_hint') }),
          SUPPORTED_LANGUAGES.map((lang) => h('div', { class: 'admin__field' },
            h('label', { class: 'label label--light', for: this.greetings[lang].id, text: languageName(lang) }),
            this.greetings[lang]))),
        field('admin.widget_origins', this.origins),
        h('p', { class: 'admin__hint-line', text: t('admin.widget_origins_hint') }),
        this.error.el,
        save),
        h('section', { class: 'widget-preview', 'aria-labelledby': 'widget-preview-title' },
          h('div', { class: 'admin__head' },
            h('h3', { class: 'admin__subtitle', id: 'widget-preview-title', text: t('admin.widget_preview') }),
            this.langSelect),
          h('p', { class: 'admin__hint-line', text: t('admin.widget_preview_hint') }),
          this.stage)));
  }

  reset() {
    this.frame = null;
    this.frameReady = false;
    this.panel.replaceChildren();
  }

  async load() {
    let look;
    try {
      look = await api('GET', '/api/admin/widget');
    } catch (error) {
      this.fail(error);
      return;
    }
    this.show(look);
    if (!this.frame) this.loadFrame();
  }

  show(look) {
    const color = COLOR.test(look?.color || '') ? look.color : DEFAULT_COLOR;
    this.color.value = color;
    this.picker.value = color;
    this.positions[look?.position === 'left' ? 'left' : 'right'].checked = true;
    for (const lang of SUPPORTED_LANGUAGES) this.greetings[lang].value = look?.greeting?.[lang] || '';
    this.origins.value = (look?.allowed_origins || []).join('\n');
    this.error.clear();
    this.updatePreview();
  }

  value() {
    return {
      color: this.color.value.trim().toLowerCase(),
      position: this.positions.left.checked ? 'left' : 'right',
      greeting: Object.fromEntries(SUPPORTED_LANGUAGES.map((lang) => [lang, this.greetings[lang].value.trim()])),
      allowed_origins: this.origins.value.split(/[\s,]+/).map((o) => o.trim()).filter(Boolean),
    };
  }

  async save(button) {
    const look = this.value();
    if (!COLOR.test(look.color)) {
      this.error.show(t('admin.widget_color_invalid'));
      return;
    }
    this.error.clear();
    const saved = await busy(button, () => api('PUT', '/api/admin/widget', look), (error) => this.error.show(error));
    if (!saved) return;
    this.show(saved);
    this.notice(t('admin.widget_saved'), { kind: 'info' });
  }

  setPreviewLang(lang) {
    if (lang === this.previewLang) return;
    this.previewLang = lang;
    this.langSelect.value = lang;
    this.loadFrame();
  }

  /** The real widget frame in preview mode, in the chosen language. */
  loadFrame() {
    const query = new URLSearchParams({ origin: location.origin, preview: '1', lang: this.previewLang });
    this.frameReady = false;
    this.frame = h('iframe', { id: 'widget-preview-frame', title: t('admin.widget_preview'), src: `/widget?${query}` });
    replace(this.panel, this.frame);
  }

  /** What is typed now, shown at once: launcher here, colour and greeting in the frame. */
  updatePreview() {
    const { color, position, greeting } = this.value();
    const brand = COLOR.test(color) ? color : DEFAULT_COLOR;
    this.stage.dataset.position = position;
    this.launcher.style.setProperty('background-color', brand);
    this.launcher.style.setProperty('color', inkOn(brand));
    if (!this.frameReady || !this.frame?.contentWindow) return;
    this.frame.contentWindow.postMessage(
      { chatdesk: true, type: 'preview', color: brand, greeting: greeting[this.previewLang] || '' },
      location.origin,
    );
  }
}
