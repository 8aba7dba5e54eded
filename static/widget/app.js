// The chat UI inside the widget iframe (/widget). Wires the websocket session
// (connection.js) to the screens (form.js, chatview.js) and to the embedding page
// (parent.js). Screens: loading → form → waiting/chat/ended, or form → thanks;
// a missed chat turns back into the form, prefilled.
import { applyTranslations, loadStrings, t } from '../i18n.js';
import { byId, showOnly } from '../lib/dom.js';
import { errorText, showNotice } from '../lib/notices.js';
import { ChatView } from './chatview.js';
import { Chime } from './chime.js';
import { storage, TOKEN_KEY, WidgetConnection } from './connection.js';
import { WidgetFiles } from './files.js';
import { ChatForm } from './form.js';
import { DISMISSED_KEY, frameHandlers } from './frames.js';
import { applyGreeting, loadLook, startPreview } from './look.js';
import { ParentBridge, parentOrigin } from './parent.js';

const OPEN_STATES = new Set(['waiting', 'offered', 'active']);
// How long a frame without storage waits for the loader to hand back the token.
const RELAYED_TOKEN_WAIT_MS = 1500;
const params = new URLSearchParams(location.search);

const state = {
  screen: 'loading',
  services: [],
  customer: null,
  chat: null,
  agentName: null,
  user: null,
  missed: null,
  pending: null, // 'start_chat' | 'leave_message' while the server is answering
  parentOpen: true, // the loader creates us when the widget opens
  unread: 0,
  history: null, // {chatId, seq}: messages up to here were read before this page loaded
  surveyShown: null,
  surveyDone: new Set(),
  portalLinkFor: null, // the chat whose "See your tickets" link was asked for
  dismissed: Number(storage.get(DISMISSED_KEY)) || null,
};

let conn, form, chatView, bridge, handlers, chime;
// Files in the chat, fetched and sent with the customer token (files.js).
const files = new WidgetFiles(() => ({ token: conn?.token ?? null, site: conn?.site ?? null }));
const el = {};

/** White or near-black, whichever reads better on `hex` (WCAG contrast). */
export function textColorOn(hex) {
  const full = hex.length === 4 ? `#${[...hex.slice(1)].map((c) => c + c).join('')}` : hex;
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(full.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? '#ffffff' : '#111111';
}

function applyBrandColor(raw) {
  if (!/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(raw || '')) return;
  document.documentElement.style.setProperty('--cd-brand', raw);
  document.documentElement.style.setProperty('--cd-on-brand', textColorOn(raw));
}

function notice(text, options) {
  showNotice(el.notices, text, options);
}

// ---------------------------------------------------------------- screens

function showScreen(name) {
  const changed = state.screen !== name;
  state.screen = name;
  showOnly(el.screens, byId(`screen-${name}`));
  el.widget.dataset.screen = name;
  renderHeader();
  if (changed && document.hasFocus()) focusScreen();
  if (name === 'chat') markRead();
}

function focusScreen() {
  if (state.screen === 'form') form.focus();
  else if (state.screen === 'chat') chatView.focus();
  else if (state.screen === 'thanks') byId('thanks-title').focus();
}

function renderHeader() {
  let subtitle = '';
  if (state.screen === 'form') {
    subtitle = t(form.mode() === 'live' ? 'widget.subtitle_online' : 'widget.subtitle_offline');
  } else if (state.screen === 'chat' && state.chat) {
    const chatState = state.chat.state;
    if (chatState === 'active') {
      subtitle = state.agentName ? t('widget.chatting_with', { name: state.agentName }) : t('widget.subtitle_active');
    } else if (chatState === 'ended') subtitle = t('widget.subtitle_ended');
    else subtitle = t('widget.subtitle_waiting');
  }
  el.subtitle.textContent = subtitle;
  el.subtitle.hidden = !subtitle;
}

/** Decide the screen from what we know about the chat. */
function route() {
  const chat = state.chat;
  const live = chat && OPEN_STATES.has(chat.state);
  if (state.screen === 'thanks' && !live) return;
  if (!chat || (state.dismissed === chat.id && !live)) {
    form.setMissed(null);
    showScreen('form');
  } else if (chat.state === 'missed') {
    showMissed(chat);
  } else {
    chatView.showState(chat);
    routeSurvey(chat);
    routePortalLink(chat);
    showScreen('chat');
  }
}

function showMissed(chat) {
  const missed = state.missed?.chat_id === chat.id
    ? state.missed
    : { chat_id: chat.id, ticket_id: chat.ticket_id, next_open: null };
  form.setMissed(missed);
  form.selectService(chat.service_id);
  const said = conn.transcript?.chatId === chat.id
    ? conn.transcript.messages().filter((m) => m.sender === 'customer').map((m) => m.body)
    : [];
  form.prefill({
    name: state.customer?.name,
    email: state.customer?.email,
    subject: chat.subject,
    message: said.join('\n\n'),
  });
  showScreen('form');
}

/**
 * Once the chat has a ticket, ask the desk for a link that signs this customer in to the
 * portal. /portal can't read this frame's storage when the page embedding us is another
 * site (browsers partition or block it), so the link carries the sign-in itself.
 */
function routePortalLink(chat) {
  if (chat.state !== 'ended' || !chat.ticket_id || state.portalLinkFor === chat.id) return;
  state.portalLinkFor = chat.id;
  fetch('/api/widget/portal-link', { method: 'POST', headers: files.headers(), credentials: 'omit' })
    .then((response) => (response.ok ? response.json() : null))
    .then((data) => {
      if (data?.url && state.portalLinkFor === chat.id) chatView.showPortalLink(`${data.url}#/ticket/${chat.ticket_id}`);
    })
    .catch(() => { state.portalLinkFor = null; }); // offline: asked again on the next update
}

function routeSurvey(chat) {
  if (chat.state !== 'ended') return;
  if (chat.survey === 'answered' || state.surveyDone.has(chat.id)) {
    if (state.surveyShown === chat.id) return; // keeps the "thanks" we are showing
    chatView.surveyDone({ thank: false });
  } else if (chat.survey === 'pending' && state.surveyShown !== chat.id) {
    state.surveyShown = chat.id;
    chatView.showSurvey();
  }
}

function startNewChat() {
  if (state.chat) {
    state.dismissed = state.chat.id;
    storage.set(DISMISSED_KEY, String(state.chat.id));
  }
  state.missed = null;
  form.setMissed(null);
  form.clearConversation();
  form.prefill({ name: state.customer?.name || state.user?.name, email: state.customer?.email || state.user?.email });
  showScreen('form');
}

// ---------------------------------------------------------------- actions

function send(frame) {
  if (conn.send(frame)) return true;
  notice(t('error.offline'));
  return false;
}

function startChat(fields) {
  state.pending = 'start_chat';
  form.setBusy(true);
  if (!send({ type: 'start_chat', ...fields })) endPending();
}

function leaveMessage(fields) {
  state.pending = 'leave_message';
  form.setBusy(true);
  if (!send({ type: 'leave_message', ...fields })) endPending();
}

function endPending() {
  state.pending = null;
  form.setBusy(false);
}

// ---------------------------------------------------------------- frames

function onFrame(frame, extra) {
  handlers[frame.type]?.(frame, extra);
}

/** A new line from the desk: count it while minimised, and ring for an agent's words
 *  the customer can't see (minimised, or the tab hidden). Lines read before this page
 *  loaded (the replay after hello) do neither. */
function countUnread(message) {
  if (message.sender === 'customer') return;
  const history = state.history;
  if (history && message.chat_id === history.chatId && message.seq <= history.seq) return;
  if (message.sender === 'agent' && (!state.parentOpen || document.visibilityState === 'hidden')) {
    chime?.play();
  }
  if (state.parentOpen) return;
  state.unread += 1;
  bridge.post('unread', { count: state.unread });
}

/** The chat is in front of the customer: the agent may see "Read" (docs/protocol.md, "Receipts"). */
function markRead() {
  if (!conn || state.screen !== 'chat' || !state.parentOpen || document.visibilityState !== 'visible') return;
  conn.markRead();
}

function onStatus(status) {
  if (status === 'connected') {
    el.banner.hidden = true;
    return;
  }
  el.banner.textContent = t('widget.reconnecting');
  el.banner.hidden = false;
}

// ---------------------------------------------------------------- the embedding page

const PARENT_HANDLERS = {
  visibility(message) {
    state.parentOpen = Boolean(message.open);
    if (!state.parentOpen) return;
    markRead();
    state.unread = 0;
    bridge.post('unread', { count: 0 });
    focusScreen();
  },
  setUser(message) {
    const user = {};
    for (const key of ['name', 'email', 'identifier', 'hash']) {
      if (typeof message.user?.[key] === 'string') user[key] = message.user[key];
    }
    const timestamp = Number(message.user?.timestamp);
    if (Number.isInteger(timestamp)) user.timestamp = timestamp;
    state.user = user;
    // Another person logged in on this browser: they must not see the last one's chats.
    if (user.identifier && conn.identifier && conn.identifier !== user.identifier) resetCustomer();
    if (user.identifier) conn.identifier = user.identifier;
    // Signed by the host site's server: the desk can trust who this visitor is.
    if (user.identifier && user.hash && user.timestamp !== undefined) conn.useSignedUser(user);
    form.prefill({ name: user.name, email: user.email });
  },
  reset() {
    state.user = null;
    resetCustomer();
  },
};

function resetCustomer() {
  storage.remove(DISMISSED_KEY);
  Object.assign(state, {
    customer: null, chat: null, agentName: null, missed: null, pending: null, unread: 0,
    history: null, surveyShown: null, dismissed: null, portalLinkFor: null,
  });
  state.surveyDone.clear();
  chatView.clear();
  form.setMissed(null);
  form.setBusy(false);
  for (const id of ['form-name', 'form-email', 'form-subject', 'form-message']) byId(id).value = '';
  bridge.post('unread', { count: 0 });
  files.clear();
  el.widget.setAttribute('aria-busy', 'true');
  showScreen('loading');
  conn.reset();
}

// ---------------------------------------------------------------- start

async function main() {
  applyBrandColor(params.get('color'));
  // Admin → Widget: the saved colour (unless the embedding page chose one) and greeting.
  const preview = params.get('preview') === '1';
  const [look, lang] = await Promise.all([loadLook(), loadStrings(params.get('lang'))]);
  if (!params.get('color')) applyBrandColor(look.color);
  applyTranslations(document);
  applyGreeting(look.greeting, lang);
  Object.assign(el, {
    widget: byId('widget'),
    subtitle: byId('header-subtitle'),
    banner: byId('connection-banner'),
    notices: byId('notices'),
    screens: [...document.querySelectorAll('.cd-screen')],
  });

  // A preview sends nothing: starting a chat there does nothing.
  form = preview
    ? new ChatForm({ onStart: () => {}, onLeaveMessage: () => {} })
    : new ChatForm({ onStart: startChat, onLeaveMessage: leaveMessage });
  chatView = new ChatView({
    onSend: (body) => {
      const entry = conn.sendMessage(body);
      if (!entry) notice(t('error.no_open_chat'));
      return entry;
    },
    onTyping: (isTyping) => conn.send({ type: 'typing', is_typing: isTyping }),
    onEnd: () => send({ type: 'end_chat' }),
    onRate: ({ rating, comment }) => {
      if (!send({ type: 'rate', rating, ...(comment ? { comment } : {}) })) chatView.surveyFailed('');
    },
    onNewChat: startNewChat,
    onSendFile: (file) => {
      if (!state.chat) return null;
      return files.send(state.chat.id, file, {
        onChange: (entry) => chatView.updateOutgoing(entry),
        onError: (error) => notice(errorText(error)),
      });
    },
    imageUrl: (attachment) => files.objectUrl(attachment),
    download: (attachment) => files.download(attachment).catch((error) => notice(errorText(error))),
  });
  byId('thanks-new-chat').addEventListener('click', startNewChat);
  chime = new Chime({ button: byId('sound-button'), storage });
  handlers = frameHandlers({
    state, form, chatView, storage, params, conn: () => conn,
    route, renderHeader, showScreen, endPending, notice, countUnread, markRead,
  });

  bridge = new ParentBridge(parentOrigin(params.get('origin')), (message) => {
    PARENT_HANDLERS[message.type]?.(message);
  });
  const close = byId('close-button');
  close.hidden = !bridge.embedded;
  close.addEventListener('click', () => bridge.post('close'));
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    if (!byId('end-confirm').hidden) chatView.closeConfirm(true); // Escape cancels the question first
    else if (bridge.embedded) bridge.post('close');
  });

  if (preview) {
    // The Admin tab sends what is being typed, before it is saved.
    PARENT_HANDLERS.preview = (message) => {
      applyBrandColor(message.color);
      applyGreeting({ [lang]: message.greeting }, lang);
    };
    await startPreview({ form, showScreen });
    bridge.post('ready', {});
    return;
  }
  conn = new WidgetConnection({ lang, site: bridge.embedded ? bridge.origin : null, onFrame, onStatus });
  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('focus', markRead);
  const begin = () => {
    if (params.get('reset') === '1') {
      // Chatdesk.reset() was called before this frame existed: forget the old customer.
      storage.remove(DISMISSED_KEY);
      state.dismissed = null;
      params.delete('reset');
      history.replaceState(null, '', `${location.pathname}?${params}`);
      conn.reset();
    } else {
      conn.start();
    }
  };
  // On a shop of another site the browser may give this frame no storage at all: then
  // the loader keeps the token in the shop's own storage, so a reload or the shop's
  // next page resumes the same chat. Wait for it (briefly: an older loader never answers).
  const relay = storage.blocked && bridge.embedded;
  if (relay) {
    storage.mirror = (key, value) => {
      if (key === TOKEN_KEY) bridge.post('token', { token: value || '' });
    };
    let begun = false;
    const beginOnce = () => {
      if (begun) return;
      begun = true;
      begin();
    };
    PARENT_HANDLERS.token = (message) => {
      if (typeof message.token === 'string' && message.token) storage.seed(TOKEN_KEY, message.token);
      beginOnce();
    };
    setTimeout(beginOnce, RELAYED_TOKEN_WAIT_MS);
  } else {
    begin();
  }
  bridge.post('ready', {
    labels: {
      open: t('launcher.open'),
      close: t('launcher.close'),
      unread: t('launcher.unread'),
      title: t('widget.frame_title'),
    },
    wantsToken: relay,
  });
}

main().catch((error) => {
  console.error(error);
});
