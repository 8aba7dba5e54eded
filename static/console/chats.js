// The console's main area: my open chats as tabs (with unread counts), the selected
// chat's pane, and the customer details column beside it.
import { byId, h } from '../lib/dom.js';
import { formatDateTime, t } from '../i18n.js';
import { ChatPane } from './chatpane.js';

const BASE_TITLE_KEY = 'console.page_title';

export class ActiveChats {
  /**
   * @param {object} context  me() → agent; services() → [service]; send(frame) → bool
   */
  constructor(context) {
    this.context = context;
    this.panes = new Map();
    this.selected = null;
    this.tabs = byId('chat-tabs');
    this.area = byId('chat-panes');
    this.empty = byId('chats-empty');
    this.detailsEmpty = byId('details-empty');
    this.details = byId('details-body');
    this.tabs.addEventListener('keydown', (event) => this.onTabKey(event));
    this.render();
  }

  reset() {
    for (const pane of this.panes.values()) this.removePane(pane);
    this.selected = null;
    this.render();
  }

  /** {chat_id: last_seq} for the chats on screen: where to resume after a reconnect. */
  resumePoints() {
    const points = {};
    for (const pane of this.panes.values()) points[pane.id] = pane.transcript.contiguousSeq;
    return points;
  }

  has(chatId) {
    return this.panes.has(chatId);
  }

  /** `welcome.chats`: my open chats. Chats we show that the server no longer lists stay, marked. */
  sync(chats) {
    const listed = new Set((chats || []).map((chat) => chat.id));
    for (const chat of chats || []) this.upsert(chat, { select: false });
    // Open on screen but gone from the server's list: it ended while we were away.
    for (const pane of this.panes.values()) {
      if (!listed.has(pane.id) && pane.isOpen) pane.update({ state: 'ended' });
    }
    if (!this.selected && this.panes.size) this.select(this.panes.values().next().value);
    for (const pane of this.panes.values()) pane.resendUnconfirmed();
  }

  /** A `chat` frame or a snapshot: create the pane if it's new and open. */
  upsert(chat, { select = false } = {}) {
    let pane = this.panes.get(chat.id);
    if (pane) {
      pane.update(chat);
    } else {
      if (!['active', 'offered', 'waiting'].includes(chat.state) && !select) return null;
      pane = new ChatPane(chat, {
        me: this.context.me(),
        services: this.context.services,
        send: this.context.send,
        manageCanned: this.context.manageCanned,
        onSelect: (p) => this.select(p, { focus: false }),
        onClose: (p) => this.close(p),
      });
      if (pane.transferredAway) return null; // e.g. a queued chat we never had
      this.panes.set(chat.id, pane);
      this.tabs.append(pane.tab);
      this.area.append(pane.pane);
      if (select || !this.selected) this.select(pane, { focus: select });
    }
    if (this.selected === pane) this.renderDetails();
    this.render();
    return pane;
  }

  select(pane, { focus = false } = {}) {
    this.selected = pane;
    for (const other of this.panes.values()) other.setSelected(other === pane);
    this.renderDetails();
    this.renderTitle();
    if (focus) pane.focusComposer();
  }

  close(pane) {
    const wasSelected = this.selected === pane;
    this.removePane(pane);
    if (wasSelected) {
      const next = this.panes.values().next().value || null;
      this.selected = null;
      if (next) this.select(next, { focus: false });
      (next?.tab || this.tabs).focus?.();
    }
    this.render();
  }

  removePane(pane) {
    pane.notifier.stop();
    pane.tab.remove();
    pane.pane.remove();
    this.panes.delete(pane.id);
  }

  /** Returns the gap to fetch (or null); counts unread for chats not in view. */
  message(frame) {
    const pane = this.panes.get(frame.chat_id);
    if (!pane) return { known: false, gapAfter: null };
    const { isNew, gapAfter } = pane.receive(frame);
    if (isNew && frame.sender === 'customer' && (this.selected !== pane || document.hidden)) {
      pane.setUnread(pane.unread + 1);
      this.renderTitle();
    }
    return { known: true, gapAfter };
  }

  ack(frame) {
    this.panes.get(frame.chat_id)?.ack(frame);
  }

  /** The other side's delivered/read (docs/protocol.md, "Receipts"). */
  receipt(frame) {
    this.panes.get(frame.chat_id)?.receipt(frame);
  }

  failed(clientId) {
    for (const pane of this.panes.values()) pane.failed(clientId);
  }

  /** A message was not stored (`database_unavailable`): its chat resends in order soon. */
  notStored(clientId) {
    for (const pane of this.panes.values()) {
      if (pane.transcript.outgoing.has(clientId)) pane.resendSoon();
    }
  }

  typing(frame) {
    if (frame.sender === 'agent') return;
    this.panes.get(frame.chat_id)?.typing(Boolean(frame.is_typing));
  }

  /** Our last transfer was refused (error frame, ref "transfer"): the pane that sent it says why. */
  transferFailed(frame) {
    const pane = [...this.panes.values()].find((p) => p.transferPanel.pending && p.isOpen);
    pane?.transferFailed(frame);
  }

  /**
   * Chats we transferred to a colleague that are back in the queue or offered to us
   * again: the colleague declined or let the offer lapse. Returns their names.
   */
  transfersReturned(chatIds) {
    const names = [];
    for (const pane of this.panes.values()) {
      const pending = pane.transferPanel.pending;
      if (!pane.transferredAway || pending?.kind !== 'agent' || !chatIds.includes(pane.id)) continue;
      pane.transferPanel.pending = null;
      names.push(pending.name);
      pane.el.endedText.textContent = t('transfer.returned', { name: pending.name });
    }
    return names;
  }

  /** The chat was taken away from us (transferred): keep the transcript, stop answering. */
  removed(chatId) {
    const pane = this.panes.get(chatId);
    if (!pane) return;
    pane.transferredAway = true;
    pane.render();
  }

  ended(frame) {
    const pane = this.panes.get(frame.chat_id);
    if (!pane) return;
    pane.update({ state: 'ended', ended_by: frame.ended_by, ticket_id: frame.ticket_id });
    if (this.selected === pane) this.renderDetails();
  }

  /** Service names changed (desk_status): refresh the headers. */
  refreshServices() {
    for (const pane of this.panes.values()) pane.update({});
    this.renderDetails();
  }

  activeCount() {
    return [...this.panes.values()].filter((pane) => pane.isOpen).length;
  }

  onTabKey(event) {
    const tabs = [...this.tabs.querySelectorAll('[role="tab"]')];
    const index = tabs.indexOf(document.activeElement);
    if (index < 0) return;
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: tabs.length - 1 - index };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = tabs[(index + moves[event.key] + tabs.length) % tabs.length];
    const pane = [...this.panes.values()].find((p) => p.tab === next);
    if (pane) {
      this.select(pane);
      next.focus();
    }
  }

  render() {
    this.empty.hidden = this.panes.size > 0;
    this.tabs.hidden = this.panes.size === 0;
    this.area.hidden = this.panes.size === 0;
    if (!this.panes.size) this.renderDetails();
    this.renderTitle();
  }

  renderTitle() {
    const unread = [...this.panes.values()].reduce((sum, pane) => sum + pane.unread, 0);
    const base = t(BASE_TITLE_KEY);
    document.title = unread ? `(${unread}) ${base}` : base;
  }

  renderDetails() {
    const pane = this.selected;
    this.detailsEmpty.hidden = Boolean(pane);
    this.details.hidden = !pane;
    if (!pane) {
      this.details.replaceChildren();
      return;
    }
    const chat = pane.chat;
    const service = this.context.services().find((s) => s.id === chat.service_id);
    const rows = [
      ['console.detail_email', chat.customer?.email],
      ['console.detail_service', service?.name],
      ['console.detail_subject', chat.subject],
      ['console.detail_status', t(`chat.state.${chat.state}`)],
      ['console.detail_started', chat.created_at ? formatDateTime(chat.created_at) : null],
      ['console.detail_agent', chat.agent?.name],
      ['console.detail_chat', `#${chat.id}`],
      ['console.detail_ticket', chat.ticket_id ? `#${chat.ticket_id}` : null],
    ].filter(([, value]) => value);
    this.details.replaceChildren(
      h('h2', { class: 'details__name', text: pane.customerName }),
      h('dl', { class: 'details__list' }, rows.flatMap(([key, value]) => [
        h('dt', { text: t(key) }),
        h('dd', { text: value }),
      ])),
      ...(this.context.customerContext ? [this.context.customerContext.element(chat)] : []),
    );
  }
}
