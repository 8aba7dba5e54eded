// The agent console (/console): sign in, then chats (offers, queue, my open chats)
// and tickets. This file wires the pieces together and owns the header: who I am,
// my presence and how many chats I have of my capacity.
import { ApiError, api, rememberCsrfToken } from '../lib/api.js';
import { byId } from '../lib/dom.js';
import { errorText, showNotice } from '../lib/notices.js';
import { applyTranslations, formatNumber, loadStrings, t } from '../i18n.js';
import { askForNotifications, beep, canAskForNotifications, notifyDesktop, unlockAudio } from './alerts.js';
import { AdminView } from './admin.js';
import { CannedManager } from './canned_manager.js';
import { ActiveChats } from './chats.js';
import { OfferList, QueueList } from './offers.js';
import { ConsoleConnection } from './socket.js';
import { CustomerContext } from './context.js';
import { TicketsView } from './tickets.js';

const TICK_MS = 1_000; // countdowns and wait times show seconds
// The server sends a newly accepted chat's history by itself; ask only if it hasn't come.
const HISTORY_GRACE_MS = 1_500;
const PRESENCES = ['online', 'away', 'offline'];

const session = {
  agent: null,
  services: [],
  presence: 'offline',
  capacity: null,
  activeChats: null,
  connection: null,
};

let chats, offers, queue, tickets, admin, canned, customerContext, ticker;
const el = {};

function notice(text, options) {
  showNotice(el.notices, text, options);
}

function serviceName(id) {
  return session.services.find((service) => service.id === id)?.name || (id ? `#${id}` : '');
}

function send(frame) {
  if (session.connection?.send(frame)) return true;
  notice(t('error.offline'));
  return false;
}

// ---------------------------------------------------------------- sign in / out

function showLogin(message = '') {
  el.app.hidden = true;
  el.login.hidden = false;
  el.loginError.textContent = message;
  el.loginError.hidden = !message;
  el.loginSubmit.disabled = false;
  el.loginEmail.focus();
}

async function login(event) {
  event.preventDefault();
  unlockAudio(); // a user gesture: from now on the offer beep may play
  const email = el.loginEmail.value.trim();
  const password = el.loginPassword.value;
  if (!email || !password) {
    showLogin(t('console.login_missing'));
    return;
  }
  el.loginSubmit.disabled = true;
  try {
    const data = await api('POST', '/api/auth/login', { email, password });
    rememberCsrfToken(data?.csrf_token);
    el.loginPassword.value = '';
    startSession(data?.agent || data);
  } catch (error) {
    showLogin(errorText(error, { preferServer: true }));
    el.loginPassword.select();
  }
}

async function logout() {
  try {
    await api('POST', '/api/auth/logout');
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      notice(errorText(error, { preferServer: true }));
      return;
    }
  }
  endSession();
  showLogin();
}

/** Another tab logged out, or the session expired (close 4401). */
function sessionLost() {
  endSession();
  showLogin(t('console.signed_out'));
}

function endSession() {
  session.connection?.stop();
  session.connection = null;
  session.agent = null;
  clearInterval(ticker);
  chats.reset();
  offers.reset();
  queue.reset();
  tickets.reset();
  admin.reset();
  canned.reset();
  customerContext.reset();
  renderAdminNav();
  showView('chats');
}

function startSession(agent) {
  session.agent = agent;
  session.capacity = agent?.capacity ?? null;
  el.login.hidden = true;
  el.app.hidden = false;
  el.agentName.textContent = agent?.name || agent?.email || '';
  renderAdminNav();
  el.notifyButton.hidden = !canAskForNotifications();
  renderPresence();
  session.connection = new ConsoleConnection({
    resumePoints: () => chats.resumePoints(),
    onFrame,
    onStatus,
    onLoggedOut: sessionLost,
  });
  session.connection.start();
  clearInterval(ticker);
  ticker = setInterval(() => {
    offers.tick();
    queue.tick();
  }, TICK_MS);
}

// ---------------------------------------------------------------- header

function renderPresence() {
  el.presence.value = session.presence;
  el.presence.dataset.status = session.presence;
  const active = session.activeChats ?? chats.activeCount();
  el.capacity.textContent = session.capacity === null
    ? ''
    : t('console.capacity', { active: formatNumber(active), capacity: formatNumber(session.capacity) });
  el.capacity.classList.toggle('capacity--full', session.capacity !== null && active >= session.capacity);
}

function applyPresence(presence) {
  if (!presence) return;
  if (typeof presence === 'string') {
    session.presence = presence;
  } else {
    if (PRESENCES.includes(presence.status)) session.presence = presence.status;
    if (typeof presence.capacity === 'number') session.capacity = presence.capacity;
    if (typeof presence.active_chats === 'number') session.activeChats = presence.active_chats;
  }
  renderPresence();
}

function onStatus(status) {
  // Presence travels on the socket: the menu works only while it is connected.
  el.presence.disabled = status !== 'connected';
  el.connection.dataset.status = status;
  el.connection.textContent = status === 'connected' ? '' : t(`console.connection_${status}`);
  if (status === 'reconnecting') checkSession();
}

let checking = false;
/** The socket keeps failing: find out whether it's the server or our session. */
async function checkSession() {
  if (checking || !session.agent) return;
  checking = true;
  try {
    await api('GET', '/api/auth/me');
  } catch (error) {
    if (error.status === 401 && session.agent) sessionLost();
  } finally {
    checking = false;
  }
}

function isAdmin() {
  return session.agent?.role === 'admin';
}

/** The Admin tab is there for admins only (the server refuses everyone else anyway). */
function renderAdminNav() {
  el.navAdmin.hidden = !isAdmin();
  if (!isAdmin() && !el.adminView.hidden) showView('chats');
}

function showView(name) {
  if (name === 'admin' && !isAdmin()) name = 'chats';
  el.chatsView.hidden = name !== 'chats';
  el.ticketsView.hidden = name !== 'tickets';
  el.adminView.hidden = name !== 'admin';
  for (const [view, button] of [['chats', el.navChats], ['tickets', el.navTickets], ['admin', el.navAdmin]]) {
    if (view === name) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  if (name === 'tickets') tickets.show();
  if (name === 'admin') admin.show();
}

// ---------------------------------------------------------------- frames

const HANDLERS = {
  welcome(frame) {
    if (frame.agent) {
      session.agent = { ...session.agent, ...frame.agent };
      session.capacity = frame.agent.capacity ?? session.capacity;
      el.agentName.textContent = session.agent.name || '';
      renderAdminNav();
    }
    session.services = Array.isArray(frame.services) ? frame.services : session.services;
    session.activeChats = null;
    chats.sync(frame.chats || []);
    offers.set(frame.offers || []);
    queue.set(frame.queue || []);
    applyPresence(frame.presence);
  },

  presence(frame) {
    applyPresence(frame);
  },

  offer(frame) {
    offers.add(frame);
    transfersReturned([frame.chat?.id]);
  },

  offer_withdrawn(frame) {
    const offer = offers.remove(frame.chat_id);
    if (offer && frame.reason && frame.reason !== 'declined') {
      const name = offer.chat?.customer?.name || t('console.anonymous');
      notice(t(`console.offer_withdrawn_${frame.reason}`, { name }), { kind: 'info' });
    }
  },

  chat(frame) {
    const chat = frame.chat;
    if (!chat) return;
    const accepted = offers.has(chat.id);
    if (accepted && chat.state !== 'offered') offers.remove(chat.id);
    const isNew = !chats.has(chat.id);
    const pane = chats.upsert(chat, { select: accepted && chat.state === 'active' });
    // The server's count came with the last presence frame; from here on the panes know better.
    session.activeChats = null;
    // A chat new to this screen (accepted, transferred in): make sure its history arrives.
    if (isNew && pane) {
      setTimeout(() => {
        const after = pane.transcript.contiguousSeq;
        if (chats.has(chat.id) && chat.last_seq > after) send({ type: 'fetch', chat_id: chat.id, after_seq: after });
      }, HISTORY_GRACE_MS);
    }
    renderPresence();
  },

  chat_removed(frame) {
    // Transferred to someone else: no longer ours to answer (not in docs/protocol.md yet).
    offers.remove(frame.chat_id);
    chats.removed(frame.chat_id);
    session.activeChats = null;
    renderPresence();
  },

  message(frame) {
    const { known, gapAfter } = chats.message(frame);
    if (!known && offers.has(frame.chat_id) && frame.sender === 'customer') {
      offers.setFirstMessage(frame.chat_id, frame.body);
    }
    if (gapAfter !== null) send({ type: 'fetch', chat_id: frame.chat_id, after_seq: gapAfter });
  },

  ack(frame) {
    chats.ack(frame);
  },

  receipt(frame) {
    chats.receipt(frame);
  },

  typing(frame) {
    chats.typing(frame);
  },

  ended(frame) {
    chats.ended(frame);
    renderPresence();
  },

  queue(frame) {
    queue.set(frame.waiting || []);
    transfersReturned((frame.waiting || []).map((entry) => entry.chat_id));
  },

  desk_status(frame) {
    if (!Array.isArray(frame.services)) return;
    // desk_status may list only some services: merge by id.
    const byIdMap = new Map(session.services.map((service) => [service.id, service]));
    for (const service of frame.services) byIdMap.set(service.id, { ...byIdMap.get(service.id), ...service });
    session.services = [...byIdMap.values()];
    chats.refreshServices();
  },

  error(frame) {
    if (frame.ref === 'transfer') {
      chats.transferFailed(frame); // said beside the chat, where the agent is looking
      return;
    }
    if (frame.ref && typeof frame.ref === 'string') {
      if (frame.code === 'database_unavailable') chats.notStored(frame.ref);
      else chats.failed(frame.ref);
    }
    if (frame.ref === 'accept' || frame.code === 'offer_expired') {
      offers.acceptFailed({ drop: ['offer_expired', 'chat_not_found', 'chat_closed'].includes(frame.code) });
    }
    notice(errorText(frame, { preferServer: true }));
  },
};

/** A colleague declined (or let lapse) a chat we transferred to them: say so. */
function transfersReturned(chatIds) {
  for (const name of chats.transfersReturned(chatIds)) {
    notice(t('transfer.returned', { name }), { kind: 'info' });
  }
}

/** A ticket from the customer's history beside a chat: open it in the Tickets tab. */
function openTicket(id) {
  showView('tickets');
  tickets.open(id);
}

function onFrame(frame) {
  HANDLERS[frame.type]?.(frame);
}

function onNewOffer(offer) {
  beep();
  const name = offer.chat?.customer?.name || t('console.anonymous');
  notifyDesktop(
    t('console.notification_title', { name }),
    [serviceName(offer.chat?.service_id), offer.chat?.subject].filter(Boolean).join(' · '),
    `chatdesk-offer-${offer.chat?.id}`,
  );
}

/** Alt+T opens a new ticket (Movidesk's shortcut), from any tab. */
function onShortcut(event) {
  if (!session.agent || el.app.hidden) return;
  // event.code, not event.key: on a Mac, Alt+T types "†".
  if (event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.code === 'KeyT') {
    event.preventDefault();
    tickets.openNewTicket();
  }
}

// ---------------------------------------------------------------- start

async function main() {
  const params = new URLSearchParams(location.search);
  await loadStrings(params.get('lang'));
  applyTranslations(document);
  Object.assign(el, {
    login: byId('login-view'),
    loginForm: byId('login-form'),
    loginEmail: byId('login-email'),
    loginPassword: byId('login-password'),
    loginError: byId('login-error'),
    loginSubmit: byId('login-submit'),
    app: byId('app-view'),
    notices: byId('notices'),
    agentName: byId('agent-name'),
    presence: byId('presence'),
    capacity: byId('capacity'),
    connection: byId('connection-status'),
    notifyButton: byId('enable-notifications'),
    navChats: byId('nav-chats'),
    navTickets: byId('nav-tickets'),
    navAdmin: byId('nav-admin'),
    adminView: byId('admin-view'),
    chatsView: byId('chats-view'),
    ticketsView: byId('tickets-view'),
  });

  canned = new CannedManager({ me: () => session.agent, services: () => session.services, notice });
  customerContext = new CustomerContext({ openTicket });
  chats = new ActiveChats({
    me: () => session.agent || {},
    services: () => session.services,
    send,
    customerContext,
    manageCanned: () => canned.open(),
  });
  offers = new OfferList({ serviceName, send, onNew: onNewOffer });
  queue = new QueueList({ serviceName });
  tickets = new TicketsView({
    serviceName,
    notice,
    me: () => session.agent,
    showTickets: () => showView('tickets'),
  });
  admin = new AdminView({ notice });

  el.loginForm.addEventListener('submit', login);
  byId('logout').addEventListener('click', logout);
  el.presence.addEventListener('change', () => {
    unlockAudio();
    const status = el.presence.value;
    if (!send({ type: 'presence', status })) renderPresence();
  });
  el.notifyButton.addEventListener('click', async () => {
    unlockAudio();
    await askForNotifications();
    el.notifyButton.hidden = !canAskForNotifications();
  });
  el.navChats.addEventListener('click', () => showView('chats'));
  el.navTickets.addEventListener('click', () => showView('tickets'));
  byId('nav-canned').addEventListener('click', () => canned.open());
  el.navAdmin.addEventListener('click', () => showView('admin'));
  document.addEventListener('keydown', onShortcut);
  // Any click may be the gesture that allows sound.
  document.addEventListener('pointerdown', unlockAudio, { once: true });

  try {
    const data = await api('GET', '/api/auth/me');
    rememberCsrfToken(data?.csrf_token);
    startSession(data?.agent || data);
  } catch (error) {
    showLogin(error.status === 401 ? '' : errorText(error, { preferServer: true }));
  }
}

main().catch((error) => console.error(error));
