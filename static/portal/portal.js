// The customer portal (/portal): my tickets in Tecnospeed's five views, one ticket,
// and a new-ticket form. This file signs in, routes between the screens by the URL
// hash (#/view/<view>, #/ticket/<id>, #/new) and owns the header.
import { ApiError } from '../lib/api.js';
import { byId, showOnly } from '../lib/dom.js';
import { fillEmailList } from '../lib/emailchips.js';
import { errorText, showNotice } from '../lib/notices.js';
import { applyTranslations, loadStrings, t } from '../i18n.js';
import { NewTicketForm } from './newticket.js';
import { Panel, VIEWS } from './panel.js';
import { portal, signIn, signOut } from './session.js';
import { TicketPage } from './ticketview.js';

const state = {
  customer: null,
  services: null,
  lastList: '#/',
  people: new Map(), // CC addresses seen on my tickets, for completion
};
const el = {};
let panel, ticketPage, newTicket;

function notice(text, options) {
  showNotice(el.notices, text, options);
}

/** A 401 anywhere means the session is gone: back to the sign-in explanation. */
function onError(error) {
  if (error instanceof ApiError && error.status === 401) {
    state.customer = null;
    showSignedOut(error.serverMessage);
    return;
  }
  notice(errorText(error, { preferServer: true }));
}

function services() {
  if (!state.services) {
    state.services = portal.request('GET', '/api/services')
      .then((data) => data?.services || [])
      .catch((error) => {
        state.services = null;
        onError(error);
        return [];
      });
  }
  return state.services;
}

// ---------------------------------------------------------------- screens

function showScreen(screen) {
  showOnly([el.loading, el.signedOut, el.panel, el.ticket, el.newView], screen);
  el.user.hidden = !state.customer;
}

function showSignedOut(problem = '') {
  el.problem.textContent = problem;
  el.problem.hidden = !problem;
  el.signInAgain.hidden = !hasWidgetIdentity();
  showScreen(el.signedOut);
  document.title = t('portal.page_title');
  byId('signed-out-title').focus();
}

function hasWidgetIdentity() {
  try {
    return Boolean(localStorage.getItem('chatdesk.token'));
  } catch {
    return false;
  }
}

function parseRoute() {
  const [, kind, arg] = location.hash.match(/^#\/(view|ticket|new)?\/?([\w-]*)/) || [];
  if (kind === 'ticket' && /^\d+$/.test(arg)) return { kind: 'ticket', id: Number(arg) };
  if (kind === 'new') return { kind: 'new' };
  if (kind === 'view' && VIEWS.includes(arg)) return { kind: 'view', view: arg };
  return { kind: 'home' };
}

async function route() {
  if (!state.customer) return;
  const where = parseRoute();
  if (where.kind === 'ticket') {
    showScreen(el.ticket);
    document.title = t('portal.page_title_ticket', { id: where.id });
    await ticketPage.open(where.id);
    return;
  }
  if (where.kind === 'new') {
    showScreen(el.newView);
    document.title = t('portal.page_title_new');
    await newTicket.show();
    return;
  }
  showScreen(el.panel);
  document.title = t('portal.page_title');
  const counts = await panel.loadCounts();
  const view = where.kind === 'view' ? where.view : panel.defaultView(counts);
  state.lastList = `#/view/${view}`;
  await panel.show(view);
}

function rememberPeople(ticket) {
  let changed = false;
  for (const email of ticket?.cc || []) {
    if (!state.people.has(email)) {
      state.people.set(email, '');
      changed = true;
    }
  }
  if (changed) fillEmailList(el.people, state.people);
}

// ---------------------------------------------------------------- sign in / out

async function start({ force = false } = {}) {
  showScreen(el.loading);
  let result;
  try {
    result = await signIn({ force });
  } catch (error) {
    showSignedOut(errorText(error, { preferServer: true }));
    return;
  }
  state.customer = result.customer;
  if (!state.customer) {
    showSignedOut(result.problem);
    return;
  }
  el.name.textContent = state.customer.name || state.customer.email || t('portal.you');
  await route();
}

async function onSignOut() {
  try {
    await signOut();
  } catch (error) {
    notice(errorText(error, { preferServer: true }));
    return;
  }
  state.customer = null;
  showSignedOut();
}

// ---------------------------------------------------------------- start

async function main() {
  const params = new URLSearchParams(location.search);
  await loadStrings(params.get('lang'));
  applyTranslations(document);
  Object.assign(el, {
    notices: byId('notices'),
    loading: byId('loading-view'),
    signedOut: byId('signed-out-view'),
    problem: byId('signed-out-problem'),
    signInAgain: byId('sign-in-again'),
    panel: byId('panel-view'),
    ticket: byId('ticket-view'),
    newView: byId('new-view'),
    user: byId('portal-user'),
    name: byId('customer-name'),
    people: byId('portal-known-emails'),
  });
  panel = new Panel({ notice, onError });
  ticketPage = new TicketPage(el.ticket, {
    me: () => state.customer,
    notice,
    onError,
    backHref: () => state.lastList,
    onChanged: (ticket) => {
      rememberPeople(ticket);
      panel.loadCounts();
    },
  });
  newTicket = new NewTicketForm({
    notice,
    services,
    onCreated: (ticket) => {
      rememberPeople(ticket);
      location.hash = `#/ticket/${ticket.id}`;
    },
  });
  byId('sign-out').addEventListener('click', onSignOut);
  el.signInAgain.addEventListener('click', () => start({ force: true }));
  window.addEventListener('hashchange', () => route());
  await start();
}

main().catch((error) => console.error(error));
