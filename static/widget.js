/*
 * Chatdesk widget loader. Embed with one tag:
 *   <script src="https://chat.example.com/widget.js" async data-service="1" data-lang="nl"
 *           data-color="#1f6feb" data-position="right"></script>
 * or set window.chatdeskSettings = {service, lang, color, position, user} before it
 * (those win over the data- attributes). Draws a launcher in a Shadow DOM, out of
 * reach of the page's CSS; the chat runs in an iframe on Chatdesk's origin, which
 * this page can't read. postMessage goes only to that exact origin, never '*'.
 * API: Chatdesk.open(), close(), toggle(), setUser({...}), reset(), on(event, fn).
 */
(() => {
  'use strict';
  if (window.Chatdesk && window.Chatdesk.loaded) return; // a second copy of the tag: nothing to do

  const script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  if (!script) return;
  const src = new URL(script.src, location.href);
  const ORIGIN = src.origin; // Chatdesk's origin: the only one we talk to
  const BASE = ORIGIN + src.pathname.replace(/(\/static)?\/widget\.js$/, '');
  const RESET_FLAG = 'chatdesk.reset'; // a reset() asked for before the iframe existed
  const TOKEN = 'chatdesk.token'; // kept here for a frame the browser gives no storage

  const settings = Object.assign({}, script.dataset, window.chatdeskSettings || {});
  const service = /^\d+$/.test(String(settings.service || '')) ? String(settings.service) : '';
  const lang = pickLanguage(settings.lang);
  let color, side, CSS;

  const handlers = {};
  let labels = { open: 'Chat', close: 'Chat', unread: 'Chat ({count})', title: 'Chat' };
  let root, wrap, launcher, badge, panel, iframe;
  let isOpen = false, frameReady = false, unread = 0, user = null, isReady = false;
  const outbox = []; // messages for the iframe until it says "ready"

  function pickLanguage(forced) {
    const tags = forced ? [forced] : navigator.languages || [navigator.language || 'en'];
    for (const tag of tags) {
      const base = String(tag).toLowerCase().split(/[-_]/)[0];
      if (base === 'pt') return 'pt-BR';
      if (base === 'nl' || base === 'en') return base;
      if (forced) break;
    }
    return 'en';
  }

  function emit(name, detail) {
    for (const fn of handlers[name] || []) {
      try { fn(detail); } catch (error) { console.error(error); }
    }
  }

  function el(tag, cls) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    return node;
  }

  // The page's own colour and side win; else what an admin saved (Admin → Widget).
  function theme(look) {
    const ok = (c) => /^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(c || '');
    color = ok(settings.color) ? settings.color : ok(look.color) ? look.color : '#1f6feb';
    side = (settings.position || look.position) === 'left' ? 'left' : 'right';
    const hex = color.length === 4 ? color.replace(/\w/g, '$&$&') : color;
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const ink = 0.299 * r + 0.587 * g + 0.114 * b > 160 ? '#111' : '#fff'; // readable icon
    CSS = `
:host{all:initial}
.launcher{position:fixed;bottom:20px;${side}:20px;width:60px;height:60px;border-radius:50%;border:0;
 background:${color};color:${ink};cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;
 display:flex;align-items:center;justify-content:center;padding:0;transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.launcher:focus-visible{outline:3px solid #111;outline-offset:3px}
.launcher svg{width:28px;height:28px;fill:currentColor}
.badge{position:absolute;top:-4px;${side === 'right' ? 'left' : 'right'}:-4px;min-width:20px;height:20px;
 border-radius:10px;background:#d1242f;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center;padding:0 5px;box-sizing:border-box}
.badge[hidden],.panel[hidden]{display:none}
.panel{position:fixed;bottom:92px;${side}:20px;width:380px;height:620px;max-height:calc(100vh - 112px);
 border-radius:14px;overflow:hidden;box-shadow:0 10px 40px rgba(0,0,0,.25);z-index:2147483001;background:#fff}
.panel iframe{border:0;width:100%;height:100%;display:block}
@media (max-width:480px){.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0}
 .open .launcher{display:none}}`;
  }

  function draw() {
    const host = document.createElement('chatdesk-widget');
    root = host.attachShadow({ mode: 'open' });
    if (root.adoptedStyleSheets && window.CSSStyleSheet && 'replaceSync' in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet(); // a strict CSP allows it
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el('style')).textContent = CSS;
    }
    wrap = root.appendChild(el('div'));
    launcher = wrap.appendChild(el('button', 'launcher'));
    launcher.type = 'button';
    launcher.setAttribute('aria-expanded', 'false');
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    const path = svg.appendChild(document.createElementNS(NS, 'path'));
    path.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
    launcher.appendChild(svg);
    badge = launcher.appendChild(el('span', 'badge'));
    badge.hidden = true;
    badge.setAttribute('aria-hidden', 'true');
    launcher.addEventListener('click', () => api.toggle());
    panel = wrap.appendChild(el('div', 'panel'));
    panel.hidden = true;
    document.body.appendChild(host);
    render();
  }

  function render() {
    if (!launcher) return;
    wrap.className = isOpen ? 'open' : '';
    panel.hidden = !isOpen;
    launcher.setAttribute('aria-expanded', String(isOpen));
    badge.hidden = isOpen || unread < 1;
    badge.textContent = unread > 9 ? '9+' : String(unread);
    const label = isOpen ? labels.close : unread > 0 ? labels.unread.replace('{count}', unread) : labels.open;
    launcher.setAttribute('aria-label', label);
    if (iframe) iframe.title = labels.title;
  }

  function setLabels(next) {
    for (const key of Object.keys(labels)) {
      if (next && typeof next[key] === 'string' && next[key]) labels[key] = next[key];
    }
    render();
  }

  function createFrame() {
    const query = new URLSearchParams({ origin: location.origin, lang, color });
    if (service) query.set('service', service);
    if (store(RESET_FLAG)) query.set('reset', '1');
    store(RESET_FLAG, '');
    iframe = el('iframe');
    iframe.title = labels.title;
    iframe.src = `${BASE}/widget?${query}`;
    panel.appendChild(iframe);
  }

  function store(key, value) { // read, or write ('' removes); '' when storage is blocked
    try {
      if (value === undefined) return localStorage.getItem(key) || '';
      if (value) localStorage.setItem(key, value); else localStorage.removeItem(key);
    } catch (error) { /* blocked */ }
    return '';
  }

  function post(message) {
    if (!iframe) return;
    if (!frameReady) { outbox.push(message); return; }
    iframe.contentWindow.postMessage(Object.assign({ chatdesk: true }, message), ORIGIN);
  }

  function setOpen(open) {
    if (!launcher || open === isOpen) return;
    isOpen = open;
    if (open && !iframe) createFrame();
    if (open) unread = 0;
    render();
    post({ type: 'visibility', open });
    if (open && iframe) iframe.focus();
    if (!open && root.activeElement === iframe) launcher.focus();
    emit(open ? 'open' : 'close');
  }

  window.addEventListener('message', (event) => {
    if (!iframe || event.origin !== ORIGIN || event.source !== iframe.contentWindow) return;
    const data = event.data;
    if (!data || data.chatdesk !== true) return;
    if (data.type === 'ready') {
      frameReady = true;
      setLabels(data.labels);
      if (user) outbox.push({ type: 'setUser', user });
      outbox.push({ type: 'visibility', open: isOpen });
      if (data.wantsToken) outbox.unshift({ type: 'token', token: store(TOKEN) });
      outbox.splice(0).forEach(post);
    } else if (data.type === 'token') {
      store(TOKEN, String(data.token || ''));
    } else if (data.type === 'unread') {
      unread = isOpen ? 0 : Math.max(0, Number(data.count) || 0);
      render();
      emit('unread', unread);
    } else if (data.type === 'close') {
      setOpen(false);
    }
  });

  const api = {
    loaded: true,
    open: () => setOpen(true),
    close: () => setOpen(false),
    toggle: () => setOpen(!isOpen),
    setUser(next) {
      user = {};
      for (const key of ['name', 'email', 'identifier', 'hash', 'timestamp']) {
        if (next && next[key] != null) user[key] = String(next[key]);
      }
      if (frameReady) post({ type: 'setUser', user }); // else sent when the iframe is ready
    },
    reset() {
      user = null;
      unread = 0;
      render();
      store(TOKEN, '');
      if (iframe) return post({ type: 'reset' });
      store(RESET_FLAG, '1');
    },
    on(name, fn) {
      (handlers[name] = handlers[name] || []).push(fn);
      if (name === 'ready' && isReady) fn();
      return () => { handlers[name] = handlers[name].filter((h) => h !== fn); };
    },
  };
  window.Chatdesk = api;
  if (settings.user) api.setUser(settings.user);

  // Launcher labels in the page's language, until the iframe sends them.
  fetch(`${BASE}/static/i18n/${lang}.json`).then((r) => (r.ok ? r.json() : null)).then((s) => {
    if (s && !frameReady) {
      setLabels({ open: s['launcher.open'], close: s['launcher.close'], unread: s['launcher.unread'], title: s['widget.frame_title'] });
    }
  }).catch(() => { /* no CORS on that host: keep the neutral label */ });

  // A slow or unreachable desk delays the launcher LOOK_WAIT_MS at most.
  const LOOK_WAIT_MS = 3000;
  const look = Promise.race([
    fetch(`${BASE}/api/widget/config`).then((r) => (r.ok ? r.json() : {})),
    new Promise((resolve) => setTimeout(resolve, LOOK_WAIT_MS, {})),
  ]).catch(() => ({}));

  async function start() {
    theme((await look) || {});
    draw();
    isReady = true;
    emit('ready');
    window.dispatchEvent(new CustomEvent('chatdesk:ready'));
  }
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
