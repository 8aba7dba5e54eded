// Talking to the page that embeds us (static/widget.js), and to nobody else.
//
// We post only to the exact origin in the `origin` query parameter (the server
// checked it against the allowed origins when it served this page), never to '*',
// and accept messages only from our parent window at that origin.

/** The embedding page's origin, or null when missing, malformed or not http(s). */
export function parentOrigin(raw) {
  if (!raw) return null;
  try {
    const url = new URL(raw);
    if (!['http:', 'https:'].includes(url.protocol) || url.origin !== raw) return null;
    return url.origin;
  } catch {
    return null;
  }
}

export class ParentBridge {
  /**
   * @param {string|null} origin  from parentOrigin()
   * @param {(message: object) => void} onMessage  {chatdesk: true, type, ...} from the loader
   */
  constructor(origin, onMessage) {
    this.origin = origin;
    this.embedded = origin !== null && window.parent !== window;
    if (!this.embedded) return;
    window.addEventListener('message', (event) => {
      if (event.source !== window.parent || event.origin !== this.origin) return;
      const data = event.data;
      if (!data || typeof data !== 'object' || data.chatdesk !== true || typeof data.type !== 'string') return;
      onMessage(data);
    });
  }

  post(type, fields = {}) {
    if (!this.embedded) return;
    window.parent.postMessage({ ...fields, chatdesk: true, type }, this.origin);
  }
}
