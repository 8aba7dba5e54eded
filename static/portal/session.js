// Who is using the portal. A customer proves who they are with the identity the chat
// widget keeps on this origin (localStorage["chatdesk.token"], a signed {customer,
// site}): POST /api/portal/session turns it into a portal session (cookie
// `chatdesk_portal` + CSRF cookie). Emailed sign-in links come with the email feature.
import { ApiError, PORTAL_CSRF_COOKIE, createApiClient, readCookie } from '../lib/api.js';

export const portal = createApiClient(PORTAL_CSRF_COOKIE);

const TOKEN_KEY = 'chatdesk.token'; // written by the widget (static/widget/connection.js)
// Set for this tab after "Sign out", so the widget's identity doesn't sign us straight back in.
const SIGNED_OUT_KEY = 'chatdesk.portal.signed_out';

function readStorage(storage, key) {
  try {
    return storage.getItem(key);
  } catch {
    return null; // storage blocked
  }
}

function writeStorage(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    // storage blocked: nothing to remember
  }
}

export function widgetToken() {
  return readStorage(localStorage, TOKEN_KEY);
}

/**
 * What the widget's token says, unverified: {c: customer id, s: site} (itsdangerous:
 * base64url JSON, ".", signature). Only used to pick the site it was issued for and to
 * notice a different customer; the server checks the signature. Null when unreadable
 * (a compressed payload starts with ".").
 */
export function tokenClaims(token) {
  if (typeof token !== 'string' || !token || token.startsWith('.')) return null;
  const payload = token.split('.')[0];
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const json = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
    const claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

async function currentCustomer() {
  // The session cookie is HttpOnly, but its CSRF twin is readable and set with it:
  // without it there is no session to ask about (and no 401 to log).
  if (!readCookie(PORTAL_CSRF_COOKIE)) return null;
  try {
    const data = await portal.request('GET', '/api/portal/me');
    return data?.customer || null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

/**
 * The signed-in customer, signing in with the widget's identity when needed.
 * Resolves to {customer, problem}: customer null when there is no way in
 * (problem: the server's words, when it refused the identity).
 */
export async function signIn({ force = false } = {}) {
  const linked = await signInFromLink();
  if (linked) return linked;
  const token = widgetToken();
  const claims = tokenClaims(token);
  let customer = await currentCustomer();
  const sameCustomer = customer && (!claims || claims.c === customer.id);
  if (customer && (sameCustomer || !token)) return { customer, problem: '' };
  if (!token || (!force && readStorage(sessionStorage, SIGNED_OUT_KEY))) return { customer, problem: '' };
  try {
    const data = await portal.request('POST', '/api/portal/session', {
      token,
      // The site the widget was on when the token was issued; normally this origin (/demo).
      site: typeof claims?.s === 'string' ? claims.s : location.origin,
    });
    portal.remember(data?.csrf_token);
    writeStorage(sessionStorage, SIGNED_OUT_KEY, null);
    customer = await currentCustomer();
    return { customer, problem: '' };
  } catch (error) {
    if (!(error instanceof ApiError) || error.status >= 500 || error.status === 0) throw error;
    return { customer, problem: error.serverMessage || '' };
  }
}

/**
 * An emailed link (/portal?signin=…#/ticket/N) signs the customer in once; the token
 * leaves the address bar at once so it is neither bookmarked nor shared by accident.
 */
async function signInFromLink() {
  const params = new URLSearchParams(location.search);
  const token = params.get('signin');
  if (!token) return null;
  params.delete('signin');
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  try {
    const data = await portal.request('POST', '/api/portal/link', { token });
    portal.remember(data?.csrf_token);
    writeStorage(sessionStorage, SIGNED_OUT_KEY, null);
    return { customer: await currentCustomer(), problem: '' };
  } catch (error) {
    if (!(error instanceof ApiError) || error.status >= 500 || error.status === 0) throw error;
    return { customer: null, problem: error.serverMessage || '' };
  }
}

export async function signOut() {
  writeStorage(sessionStorage, SIGNED_OUT_KEY, '1');
  try {
    await portal.request('POST', '/api/portal/logout');
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
}
