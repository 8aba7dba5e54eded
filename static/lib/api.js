// fetch() for Chatdesk's JSON API: same-origin credentials, the CSRF header on every
// request that changes something, and errors turned into ApiError {status, code,
// message} from the server's {code, message} body.

const CSRF_COOKIE = 'chatdesk_csrf';
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

// The token from the last login / me answer, for when the cookie can't be read.
let csrfFromServer = null;

/** Remember the `csrf_token` a login or /api/auth/me answer carried. */
export function rememberCsrfToken(token) {
  if (typeof token === 'string' && token) csrfFromServer = token;
}

export function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

/** api('POST', '/api/auth/login', {email, password}) → parsed JSON (or null for an empty body). */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!SAFE_METHODS.has(method)) {
    const token = readCookie(CSRF_COOKIE) || csrfFromServer;
    if (token) headers['X-CSRF-Token'] = token;
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
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
