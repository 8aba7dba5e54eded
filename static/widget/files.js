// Files in the widget's chat (docs/protocol.md, "Files in a chat"): upload, and
// fetching a file to show or save it.
//
// The widget has no cookie session: it proves who it is with its customer token in a
// header. So images can't simply be <img src="/api/…">; they are fetched with the
// token and shown from a blob: URL (kept per file, so each is fetched once).
import { ApiError } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { newClientId } from '../lib/transcript.js';

const TOKEN_HEADER = 'X-Chatdesk-Token';
const SITE_HEADER = 'X-Chatdesk-Site';
// Kinds the desk takes by default (chat/settings.py CHAT_ATTACHMENT_TYPES); the server
// decides by content, this only narrows the file picker.
export const ACCEPT = 'image/png,image/jpeg,image/gif,image/webp,application/pdf,application/zip,text/plain,.pdf,.zip,.txt';

export class WidgetFiles {
  /** @param {() => {token: string|null, site: string|null}} identity */
  constructor(identity) {
    this.identity = identity;
    this.blobs = new Map(); // attachment id → Promise<blob: URL>
  }

  headers() {
    const { token, site } = this.identity();
    const headers = { Accept: 'application/json' };
    if (token) headers[TOKEN_HEADER] = token;
    if (site) headers[SITE_HEADER] = site;
    return headers;
  }

  /**
   * Send `file` in the chat: returns the outgoing entry to show now ("sending"); it
   * turns "sent" (onChange) when stored, or "failed" (onChange, then onError(ApiError)).
   */
  send(chatId, file, { onChange, onError }) {
    const entry = {
      client_id: newClientId(), body: file.name, status: 'sending', seq: null,
      file: { name: file.name, size: file.size },
    };
    this.upload(chatId, file, entry.client_id).then((ack) => {
      Object.assign(entry, { status: 'sent', seq: ack.seq });
      onChange(entry);
    }, (error) => {
      entry.status = 'failed';
      onChange(entry);
      onError(error);
    });
    return entry;
  }

  /** POST the file; resolves to {chat_id, seq, client_id, attachment} or throws ApiError. */
  async upload(chatId, file, clientId) {
    const form = new FormData();
    form.append('client_id', clientId);
    form.append('file', file, file.name);
    let response;
    try {
      response = await fetch(`/api/chats/${chatId}/attachments`, {
        method: 'POST', headers: this.headers(), body: form, credentials: 'omit',
      });
    } catch {
      throw new ApiError(0, 'network_error', '');
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data?.code || `http_${response.status}`, data?.message || '');
    return data;
  }

  /** A blob: URL for the file, fetched with our token (once per file). */
  objectUrl(attachment) {
    const key = attachment.id;
    if (!this.blobs.has(key)) {
      const loading = fetch(attachment.url, { headers: this.headers(), credentials: 'omit' }).then((response) => {
        if (!response.ok) throw new ApiError(response.status, `http_${response.status}`, '');
        return response.blob();
      }).then((blob) => URL.createObjectURL(blob));
      loading.catch(() => this.blobs.delete(key)); // a failure may be retried later
      this.blobs.set(key, loading);
    }
    return this.blobs.get(key);
  }

  /** Save a file under its name (a download, never opened as a page). */
  async download(attachment) {
    const url = await this.objectUrl(attachment);
    const link = h('a', { href: url, download: attachment.filename || 'file', hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
  }

  /** A new customer (reset): the old one's files must not stay reachable. */
  clear() {
    for (const loading of this.blobs.values()) loading.then((url) => URL.revokeObjectURL(url), () => {});
    this.blobs.clear();
  }
}
