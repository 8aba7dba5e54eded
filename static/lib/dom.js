// Small DOM helpers for every Chatdesk page.
//
// Why this exists: customer and agent text (names, message bodies, subjects, emails)
// must never be parsed as HTML. `h()` only ever creates text nodes for strings and
// refuses the properties that would parse markup or inline styles (blocked by our CSP
// anyway), so a page built with it cannot be tricked into running a payload.

const FORBIDDEN = new Set(['innerHTML', 'outerHTML', 'style', 'srcdoc']);

// Properties set as DOM properties rather than attributes (their live value matters).
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'selected', 'hidden', 'type']);

/**
 * Create an element: h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', child).
 * Strings among the children become text nodes; null/undefined/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (FORBIDDEN.has(key)) throw new Error(`h(): "${key}" is not allowed`);
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) {
      if (typeof value !== 'function') throw new Error(`h(): "${key}" must be a function`);
      el.addEventListener(key.slice(2), value);
    } else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Append children (strings become text nodes, arrays are flattened). */
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace all children of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
}

/** Show exactly one of `elements` (by `hidden`). */
export function showOnly(elements, visible) {
  for (const el of elements) el.hidden = el !== visible;
}

/** Keep the scroll at the bottom if the reader was already (nearly) there. */
export function isNearBottom(el, slack = 48) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < slack;
}
