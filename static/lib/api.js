// fetch() for Chatdesk's JSON API: same-origin credentials, the CSRF header on every
// request that changes something, and errors turned into ApiError {status, code,
// message} from the server's {code, message} body.
//
// Agents (console) and customers (portal) have separate sessions with separate CSRF
// cookies, so each page makes its own client: `api` is the console's; the portal
// uses createApiClient(PORTAL_CSRF_COOKIE).

const CSRF_COOKIE = 'chatdesk_csrf';
export const PORTAL_CSRF_COOKIE = 'chatdesk_portal_csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
    // The server's words for people ('' when it sent none); ApiError.message falls back to the code.
    this.serverMessage = message || '';
  }
}

export function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/**
 * A client for one kind of session. `request(method, path, body)` sends `body` as JSON,
 * or as multipart when it is a FormData (attachments); `remember(token)` keeps the
 * `csrf_token` a sign-in answer carried, for when the cookie can't be read.
 */
export function createApiClient(csrfCookie) {
  let csrfFromServer = null;

  function remember(token) {
    if (typeof token === 'string' && token) csrfFromServer = token;
  }

  async function request(method, path, body) {
    const headers = { Accept: 'application/json' };
    const multipart = typeof FormData !== 'undefined' && body instanceof FormData;
    // The browser sets the multipart boundary itself: no Content-Type for FormData.
    if (body !== undefined && !multipart) headers['Content-Type'] = 'application/json';
    if (!SAFE_METHODS.has(method)) {
      const token = readCookie(csrfCookie) || csrfFromServer;
      if (token) headers['X-CSRF-Token'] = token;
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : multipart ? body : JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch {
      throw new ApiError(0, 'network_error', '');
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      throw new ApiError(response.status, data?.code || `http_${response.status}`, data?.message || '');
    }
    return data;
  }

  /** POST one file as the multipart field `file`. */
  function upload(path, file) {
    const form = new FormData();
    form.append('file', file, file.name);
    return request('POST', path, form);
  }

  return { request, remember, upload };
}

const agentClient = createApiClient(CSRF_COOKIE);

/** api('POST', '/api/auth/login', {email, password}) → parsed JSON (or null for an empty body). */
export const api = agentClient.request;
/** Remember the `csrf_token` a login or /api/auth/me answer carried. */
export const rememberCsrfToken = agentClient.remember;
/** upload('/api/tickets/7/attachments', file) → the attachment's JSON. */
export const uploadFile = agentClient.upload;
