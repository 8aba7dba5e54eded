// One open chat in the console: its tab, its transcript, the composer, and the
// "End chat" (Resolved / Follow-up) and "Transfer" (to a colleague or a service) actions;
// typing "/" in the composer offers canned responses (canned.js).
import { h } from '../lib/dom.js';
import { MessageList, icon } from '../lib/messagelist.js';
import { ReceiptSender } from '../lib/receipts.js';
import { Transcript, newClientId } from '../lib/transcript.js';
import { api } from '../lib/api.js';
import { errorText } from '../lib/notices.js';
import { TypingIndicator, TypingNotifier } from '../lib/typing.js';
import { formatNumber, t } from '../i18n.js';
import { CannedPicker } from './canned.js';
import { TransferPanel } from './transfer.js';

const OPEN_STATES = new Set(['waiting', 'offered', 'active']);
const COMPOSER_MAX_HEIGHT_PX = 160;
// `database_unavailable`: the message was not stored; resend this chat's unconfirmed soon.
const RESEND_AFTER_OUTAGE_MS = 3_000;

export class ChatPane {
  /**
   * @param {object} chat  snapshot
   * @param {object} context
   *   me {id, name}; services() → [service]; send(frame) → bool;
   *   onSelect(pane); onClose(pane); onChange(pane)
   */
  constructor(chat, context) {
    this.chat = chat;
    this.context = context;
    this.id = chat.id;
    this.unread = 0;
    this.transcript = new Transcript(chat.id);
    this.buildTab();
    this.buildPane();
    this.messages = new MessageList(this.el.log, { mine: 'agent', ownName: context.me.name });
    // delivered/read of the customer's lines, coalesced (docs/protocol.md, "Receipts").
    this.receipts = new ReceiptSender((frame) => this.context.send(frame));
    document.addEventListener('visibilitychange', () => this.markRead());
    this.indicator = new TypingIndicator(this.el.typing);
    this.notifier = new TypingNotifier((isTyping) => {
      context.send({ type: 'typing', chat_id: this.id, is_typing: isTyping });
    });
    this.update(chat);
  }

  get customerName() {
    return this.chat.customer?.name || t('console.anonymous');
  }

  get isOpen() {
    return OPEN_STATES.has(this.chat.state) && !this.transferredAway;
  }

  buildTab() {
    const tabId = `chat-tab-${this.id}`;
    this.tabName = h('span', { class: 'chat-tab__name' });
    this.tabBadge = h('span', { class: 'chat-tab__badge', hidden: true });
    this.tab = h('button', {
      type: 'button',
      role: 'tab',
      id: tabId,
      class: 'chat-tab',
      'aria-selected': 'false',
      'aria-controls': `chat-pane-${this.id}`,
      tabindex: '-1',
      onclick: () => this.context.onSelect(this),
    }, h('span', { class: 'chat-tab__dot', 'aria-hidden': 'true' }), this.tabName, this.tabBadge);
  }

  buildPane() {
    const id = this.id;
    const el = {};
    el.title = h('h2', { class: 'chat-pane__title' });
    el.subtitle = h('p', { class: 'chat-pane__subtitle' });
    el.transferButton = h('button', {
      type: 'button', class: 'button button--small', text: t('console.transfer'),
      'aria-expanded': 'false', onclick: () => this.toggleTransfer(),
    });
    el.endButton = h('button', {
      type: 'button', class: 'button button--small button--danger-outline', text: t('console.end_chat'),
      'aria-expanded': 'false', onclick: () => this.toggleEnd(),
    });
    el.actions = h('div', { class: 'chat-pane__actions' }, el.transferButton, el.endButton);

    el.endChoice = h('div', { class: 'chat-pane__choice', role: 'group', 'aria-labelledby': `end-label-${id}`, hidden: true },
      h('span', { id: `end-label-${id}`, class: 'chat-pane__choice-label', text: t('console.end_as') }),
      h('button', {
        type: 'button', class: 'button button--small button--primary', text: t('console.end_resolved'),
        onclick: () => this.end('resolved'),
      }),
      h('button', {
        type: 'button', class: 'button button--small', text: t('console.end_follow_up'),
        onclick: () => this.end('open'),
      }),
      h('button', {
        type: 'button', class: 'button button--small button--ghost', text: t('common.cancel'),
        onclick: () => this.toggleEnd(false),
      }),
    );

    this.transferPanel = new TransferPanel({
      chatId: id,
      me: () => this.context.me,
      services: () => this.context.services(),
      serviceId: () => this.chat.service_id,
      send: (frame) => this.context.send(frame),
      onHide: () => el.transferButton.setAttribute('aria-expanded', 'false'),
    });
    el.transferChoice = this.transferPanel.el;

    el.log = h('div', {
      class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
      'aria-label': t('console.transcript_label', { name: '' }), tabindex: '0',
    });
    el.typing = h('p', { class: 'typing', 'aria-live': 'polite' });
    el.input = h('textarea', {
      id: `composer-${id}`, class: 'composer__input', rows: '2', maxlength: '5000',
      placeholder: t('console.composer_placeholder'),
    });
    this.canned = new CannedPicker(el.input, { chatId: id, onManage: () => this.context.manageCanned?.() });
    el.input.addEventListener('keydown', (event) => {
      if (this.canned.handleKey(event)) return;
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendMessage();
      }
    });
    el.input.addEventListener('input', () => {
      el.input.style.height = 'auto';
      el.input.style.height = `${Math.min(el.input.scrollHeight, COMPOSER_MAX_HEIGHT_PX)}px`;
      if (this.chat.state === 'active' && el.input.value.trim()) this.notifier.input();
    });
    el.input.addEventListener('blur', () => this.notifier.stop());
    el.composer = h('form', { class: 'composer', onsubmit: (event) => {
      event.preventDefault();
      this.sendMessage();
    } },
      el.file = h('input', {
        type: 'file', id: `composer-file-${id}`, class: 'composer__file', 'aria-label': t('console.attach'),
        onchange: () => {
          const [file] = el.file.files;
          el.file.value = ''; // the same file may be chosen again
          if (file) this.sendFile(file);
        },
      }),
      h('label', { for: `composer-file-${id}`, class: 'button composer__attach', title: t('console.attach') },
        icon('attach', 'composer__attach-icon'),
        h('span', { class: 'visually-hidden', text: t('console.attach') })),
      h('label', { for: `composer-${id}`, class: 'visually-hidden', text: t('console.composer_label') }),
      h('div', { class: 'composer__field' }, this.canned.el, el.input),
      h('button', { type: 'submit', class: 'button button--primary', text: t('console.send') }),
    );
    el.fileError = h('p', { class: 'composer__error', role: 'alert', hidden: true });
    el.endedText = h('p', { class: 'chat-pane__ended-text' });
    el.ended = h('div', { class: 'chat-pane__ended', role: 'status', hidden: true },
      el.endedText,
      h('button', {
        type: 'button', class: 'button button--small', text: t('console.close_chat'),
        onclick: () => this.context.onClose(this),
      }),
    );

    this.el = el;
    this.pane = h('section', {
      class: 'chat-pane', role: 'tabpanel', id: `chat-pane-${id}`,
      'aria-labelledby': `chat-tab-${id}`, hidden: true,
    },
      h('header', { class: 'chat-pane__header' },
        h('div', { class: 'chat-pane__heading' }, el.title, el.subtitle),
        el.actions,
      ),
      el.endChoice,
      el.transferChoice,
      el.log,
      el.typing,
      el.composer,
      el.fileError,
      el.ended,
    );
  }

  /** A new snapshot (`chat` frame, or welcome). */
  update(chat) {
    this.chat = { ...this.chat, ...chat };
    if (chat.receipts) {
      this.messages.setReceipts(chat.receipts.customer);
      this.receipts.known(this.id, chat.receipts.agent);
    }
    const me = this.context.me;
    // Transferred to a service queue or another agent: no longer ours to answer.
    this.transferredAway = OPEN_STATES.has(this.chat.state) && me.role !== 'admin'
      && (this.chat.state !== 'active' || (this.chat.agent && this.chat.agent.id !== me.id));
    const name = this.customerName;
    this.tabName.textContent = name;
    this.el.title.textContent = name;
    this.el.log.setAttribute('aria-label', t('console.transcript_label', { name }));
    const service = this.context.services().find((s) => s.id === this.chat.service_id);
    this.el.subtitle.textContent = [service?.name, this.chat.subject].filter(Boolean).join(' · ');
    this.render();
  }

  render() {
    const open = this.isOpen;
    this.tab.classList.toggle('chat-tab--ended', !open);
    this.el.actions.hidden = !open;
    this.el.composer.hidden = !open;
    this.el.ended.hidden = open;
    if (!open) {
      this.el.endChoice.hidden = true;
      this.el.transferChoice.hidden = true;
      this.notifier.stop();
      this.indicator.hide();
      const offeredTo = this.transferPanel.pending?.kind === 'agent' ? this.transferPanel.pending.name : '';
      this.el.endedText.textContent = this.transferredAway
        ? (offeredTo ? t('transfer.offered_to', { name: offeredTo }) : t('console.transferred_away'))
        : this.chat.ticket_id
          ? t('console.ended_ticket', { ticket: this.chat.ticket_id })
          : t('console.ended');
    }
  }

  toggleEnd(show = this.el.endChoice.hidden) {
    this.el.endChoice.hidden = !show;
    this.el.endButton.setAttribute('aria-expanded', String(show));
    if (show) {
      this.toggleTransfer(false);
      this.el.endChoice.querySelector('button').focus();
    }
  }

  toggleTransfer(show = !this.transferPanel.isOpen) {
    this.el.transferButton.setAttribute('aria-expanded', String(show));
    if (!show) {
      this.el.transferChoice.hidden = true;
      return;
    }
    this.toggleEnd(false);
    this.transferPanel.show();
  }

  /** The server refused our transfer (error frame, ref "transfer"). */
  transferFailed(frame) {
    this.el.transferButton.setAttribute('aria-expanded', 'true');
    this.transferPanel.failed(frame);
  }

  end(status) {
    if (this.context.send({ type: 'end_chat', chat_id: this.id, status })) this.toggleEnd(false);
  }

  sendMessage() {
    const body = this.el.input.value.trim();
    if (!body || !this.isOpen) return;
    const entry = this.transcript.send(body);
    this.context.send({ type: 'message', chat_id: this.id, client_id: entry.client_id, body });
    this.messages.addOutgoing(entry);
    this.notifier.stop();
    this.el.input.value = '';
    this.el.input.style.height = '';
  }

  /** Send a file (chat/chat_files.py): shown at once, "sent" when stored, else why not. */
  async sendFile(file) {
    if (!this.isOpen) return;
    this.el.fileError.hidden = true;
    const entry = {
      client_id: newClientId(), body: file.name, status: 'sending', seq: null,
      file: { name: file.name, size: file.size },
    };
    this.messages.addOutgoing(entry);
    const form = new FormData();
    form.append('client_id', entry.client_id);
    form.append('file', file, file.name);
    try {
      const ack = await api('POST', `/api/chats/${this.id}/attachments`, form);
      Object.assign(entry, { status: 'sent', seq: ack.seq });
    } catch (error) {
      entry.status = 'failed';
      this.el.fileError.textContent = errorText(error);
      this.el.fileError.hidden = false;
    }
    this.messages.updateOutgoing(entry);
  }

  /** The customer's receipts: our lines show delivered / read. */
  receipt(frame) {
    if (frame.by === 'customer') this.messages.setReceipts(frame);
  }

  /** This chat is in front of the agent: what arrived so far has been read. */
  markRead() {
    if (this.pane.hidden || !this.pane.isConnected || document.visibilityState !== 'visible') return;
    this.receipts.note(this.id, 'read', this.transcript.contiguousSeq);
  }

  /** A `message` frame; returns {isNew, gapAfter}. */
  receive(message) {
    const result = this.transcript.receive(message);
    if (!result.isNew) return result;
    this.messages.addStored(message);
    if (message.sender === 'customer') this.indicator.hide();
    this.receipts.note(this.id, 'delivered', this.transcript.contiguousSeq);
    this.markRead();
    return result;
  }

  ack(frame) {
    const entry = this.transcript.ack(frame.client_id, frame.seq);
    if (entry) this.messages.updateOutgoing(entry);
  }

  failed(clientId) {
    const entry = this.transcript.fail(clientId);
    if (entry) this.messages.updateOutgoing(entry);
  }

  /** Not stored (`database_unavailable`): resend this chat's unconfirmed, in order, soon. */
  resendSoon() {
    if (this.resendTimer) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      this.resendUnconfirmed();
    }, RESEND_AFTER_OUTAGE_MS);
  }

  resendUnconfirmed() {
    for (const entry of this.transcript.unconfirmed()) {
      this.context.send({ type: 'message', chat_id: this.id, client_id: entry.client_id, body: entry.body });
    }
  }

  typing(isTyping) {
    if (isTyping) this.indicator.show(t('console.typing', { name: this.customerName }));
    else this.indicator.hide();
  }

  setSelected(selected) {
    this.tab.setAttribute('aria-selected', String(selected));
    this.tab.tabIndex = selected ? 0 : -1;
    this.pane.hidden = !selected;
    if (selected) this.setUnread(0);
    if (selected) this.markRead();
  }

  setUnread(count) {
    this.unread = count;
    this.tabBadge.hidden = count < 1;
    this.tabBadge.textContent = count ? formatNumber(count) : '';
    this.tab.setAttribute('aria-label', count
      ? t('console.tab_unread', { name: this.customerName, count: formatNumber(count) })
      : this.customerName);
  }

  focusComposer() {
    if (this.isOpen) this.el.input.focus();
  }
}
