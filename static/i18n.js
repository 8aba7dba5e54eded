// Translations for every Chatdesk page: the widget, the console, the survey page.
//
// Strings live in static/i18n/<lang>.json as flat keys ("widget.start_chat") with
// {name} placeholders; all files carry the same keys. In development (Chatdesk on
// localhost) a missing key shows up as ⟦key⟧ so that tests catch it; in production
// it falls back to English, then to the bare key.

export const SUPPORTED_LANGUAGES = ['en', 'pt-BR', 'nl'];
const DEFAULT_LANGUAGE = 'en';

let strings = {};
let fallback = {};
let language = DEFAULT_LANGUAGE;
let strict = isDevelopment();

/** Development = served from this machine, or the page says so (<html data-env="development">). */
function isDevelopment() {
  if (typeof document !== 'undefined' && document.documentElement?.dataset.env) {
    return document.documentElement.dataset.env === 'development';
  }
  if (typeof location === 'undefined') return false;
  return ['localhost', '127.0.0.1', '[::1]', '::1'].includes(location.hostname);
}

/** Force strict (⟦key⟧) or lenient (English fallback) lookups, e.g. from a test. */
export function setStrict(value) {
  strict = Boolean(value);
}

/** Map one language tag to a language we ship, or null: pt, pt-PT, pt-BR → pt-BR; nl-BE → nl. */
export function matchLanguage(tag) {
  if (typeof tag !== 'string' || !tag) return null;
  const exact = SUPPORTED_LANGUAGES.find((lang) => lang.toLowerCase() === tag.toLowerCase());
  if (exact) return exact;
  const base = tag.toLowerCase().split(/[-_]/)[0];
  if (base === 'pt') return 'pt-BR';
  return SUPPORTED_LANGUAGES.find((lang) => lang.toLowerCase() === base) || null;
}

/**
 * The language to use: the forced one if given (unknown → en), else the first of the
 * browser's preferred languages we ship, else en.
 */
export function resolveLanguage(forced, preferred = browserLanguages()) {
  if (forced) return matchLanguage(forced) || DEFAULT_LANGUAGE;
  for (const tag of preferred) {
    const match = matchLanguage(tag);
    if (match) return match;
  }
  return DEFAULT_LANGUAGE;
}

function browserLanguages() {
  if (typeof navigator === 'undefined') return [];
  if (navigator.languages?.length) return navigator.languages;
  return navigator.language ? [navigator.language] : [];
}

async function fetchStrings(lang) {
  const url = new URL(`./i18n/${lang}.json`, import.meta.url);
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/**
 * Load the strings for `lang` (or the browser's choice when not given). Resolves to
 * the language actually used and sets <html lang> to it.
 */
export async function loadStrings(lang) {
  language = resolveLanguage(lang);
  try {
    strings = await fetchStrings(language);
  } catch (error) {
    if (language === DEFAULT_LANGUAGE) throw error;
    language = DEFAULT_LANGUAGE;
    strings = await fetchStrings(language);
  }
  fallback = {};
  if (!strict && language !== DEFAULT_LANGUAGE) {
    try {
      fallback = await fetchStrings(DEFAULT_LANGUAGE);
    } catch {
      fallback = {};
    }
  }
  if (typeof document !== 'undefined') document.documentElement.lang = language;
  return language;
}

/** The language loaded by loadStrings(). */
export function currentLanguage() {
  return language;
}

export function hasKey(key) {
  return Object.prototype.hasOwnProperty.call(strings, key);
}

/** Translate `key`, filling {placeholders} from `params`. */
export function t(key, params = {}) {
  let text;
  if (hasKey(key)) text = strings[key];
  else if (strict) return `⟦${key}⟧`;
  else text = Object.prototype.hasOwnProperty.call(fallback, key) ? fallback[key] : key;
  return String(text).replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
  );
}

/**
 * Plural: looks up `${key}_${category}` (category from Intl.PluralRules: one, other…),
 * falling back to `${key}_other`. `count` is available as {count}.
 */
export function tn(key, count, params = {}) {
  const category = new Intl.PluralRules(language).select(count);
  const full = hasKey(`${key}_${category}`) ? `${key}_${category}` : `${key}_other`;
  return t(full, { ...params, count: formatNumber(count) });
}

export function formatNumber(value) {
  return new Intl.NumberFormat(language).format(value);
}

/**
 * The locale for dates: the reader's own regional variant of the language we show
 * (en-GB writes 23/11/2026, nl-BE differs from nl-NL), else the language itself.
 */
function dateLocale() {
  const preferred = browserLanguages().find((tag) => matchLanguage(tag) === language);
  if (!preferred) return language;
  try {
    return Intl.DateTimeFormat.supportedLocalesOf([preferred]).length ? preferred : language;
  } catch {
    return language; // not a valid tag
  }
}

/** A date and time in the reader's locale and own time zone. */
export function formatDateTime(iso, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(dateLocale(), options).format(date);
}

export function formatTime(iso) {
  return formatDateTime(iso, { hour: 'numeric', minute: '2-digit' });
}

/** Fill [data-i18n] text and [data-i18n-placeholder|aria-label|title] attributes under `root`. */
export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n);
  }
  const attributes = {
    'data-i18n-placeholder': 'placeholder',
    'data-i18n-aria-label': 'aria-label',
    'data-i18n-title': 'title',
  };
  for (const [source, target] of Object.entries(attributes)) {
    for (const el of root.querySelectorAll(`[${source}]`)) {
      el.setAttribute(target, t(el.getAttribute(source)));
    }
  }
}
