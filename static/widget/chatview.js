// Screens (b) waiting, (c) chat and (d) ended: one transcript with the panel around
// it changing by chat state: the queue card while waiting, the composer while the
// chat is open, "Chat ended" with the satisfaction prompt afterwards.
import { byId, isNearBottom } from '../lib/dom.js';
import { MessageList } from '../lib/messagelist.js';
import { createRating } from '../lib/rating.js';
import { TypingIndicator, TypingNotifier } from '../lib/typing.js';
import { t, tn } from '../i18n.js';

const OPEN_STATES = new Set(['waiting', 'offered', 'active']);
// Grow the composer with its text up to about five lines, then scroll.
const COMPOSER_MAX_HEIGHT_PX = 120;

/** "You are number 2 in line, about 2 minutes" (or the parts we know). */
export function queueText(position, seconds) {
  if (!Number.isInteger(position) || position < 1) return t('widget.waiting_connecting');
  if (typeof seconds !== 'number' || seconds <= 0) return t('widget.waiting_position', { position });
  const minutes = Math.max(1, Math.round(seconds / 60));
  return tn('widget.waiting_line', minutes, { position });
}

export class ChatView {
  /**
   * @param {object} handlers
   *   onSend(body) → outgoing entry | null; onTyping(isTyping); onEnd(); onRate({rating, comment});
   *   onNewChat(); onSendFile(file) → outgoing entry | null (files.js uploads it);
   *   imageUrl(attachment) → Promise<url>; download(attachment)
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.el = {
      waiting: byId('waiting'),
      waitingText: byId('waiting-text'),
      log: byId('log'),
      typing: byId('typing'),
      footer: byId('chat-footer'),
      composer: byId('composer'),
      input: byId('composer-input'),
      file: byId('composer-file'),
      endChat: byId('end-chat'),
      endConfirm: byId('end-confirm'),
      endYes: byId('end-yes'),
      endNo: byId('end-no'),
      ended: byId('ended'),
      endedTitle: byId('ended-title'),
      endedTicket: byId('ended-ticket'),
      endedPortal: byId('ended-portal'),
      survey: byId('survey'),
      surveyThanks: byId('survey-thanks'),
      newChat: byId('new-chat'),
    };
    this.messages = new MessageList(this.el.log, {
      mine: 'customer', imageUrl: handlers.imageUrl, download: handlers.download,
    });
    this.indicator = new TypingIndicator(this.el.typing);
    this.notifier = new TypingNotifier((isTyping) => handlers.onTyping(isTyping));
    this.rating = null;
    this.state = null;
    this.bind();
  }

  bind() {
    const { composer, input, endChat, endConfirm, endYes, endNo, newChat } = this.el;
    composer.addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    input.addEventListener('keydown', (event) => {
      // Enter sends, Shift+Enter is a new line; never while an IME is composing.
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    input.addEventListener('input', () => {
      this.autoGrow();
      if (this.state === 'active' && input.value.trim()) this.notifier.input();
    });
    input.addEventListener('blur', () => this.notifier.stop());
    this.el.file.addEventListener('change', () => {
      const [file] = this.el.file.files;
      this.el.file.value = ''; // the same file may be chosen again
      if (file) this.sendFile(file);
    });
    endChat.addEventListener('click', () => {
      endChat.hidden = true;
      endConfirm.hidden = false;
      endYes.focus();
    });
    endNo.addEventListener('click', () => this.closeConfirm(true));
    endYes.addEventListener('click', () => {
      this.closeConfirm(false);
      this.handlers.onEnd();
    });
    newChat.addEventListener('click', () => this.handlers.onNewChat());
  }

  closeConfirm(focus) {
    this.el.endConfirm.hidden = true;
    this.el.endChat.hidden = false;
    if (focus) this.el.endChat.focus();
  }

  autoGrow() {
    const input = this.el.input;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, COMPOSER_MAX_HEIGHT_PX)}px`;
  }

  send() {
    const body = this.el.input.value.trim();
    if (!body || !OPEN_STATES.has(this.state)) return;
    const entry = this.handlers.onSend(body);
    if (!entry) return;
    this.notifier.stop();
    this.messages.addOutgoing(entry);
    this.el.input.value = '';
    this.autoGrow();
  }

  sendFile(file) {
    if (!OPEN_STATES.has(this.state)) return;
    const entry = this.handlers.onSendFile(file);
    if (entry) this.messages.addOutgoing(entry);
  }

  /** The agent's receipts: our messages show delivered / read. */
  setReceipts(receipts) {
    this.messages.setReceipts(receipts);
  }

  /** Start over with an empty transcript (another chat). */
  clear() {
    this.messages.clear();
    this.messages.receipts = { delivered_seq: 0, read_seq: 0 };
    this.indicator.hide();
    this.closeConfirm(false);
    this.el.survey.hidden = true;
    this.el.surveyThanks.hidden = true;
    this.el.endedPortal.hidden = true;
    this.el.endedPortal.removeAttribute('href');
  }

  /** Lay the screen out for a chat snapshot's state. */
  showState(chat) {
    const previous = this.state;
    // Showing or hiding panels changes the log's height: keep the newest line in view.
    const stick = isNearBottom(this.el.log);
    this.state = chat.state;
    const open = OPEN_STATES.has(chat.state);
    this.el.waiting.hidden = !(chat.state === 'waiting' || chat.state === 'offered');
    this.el.footer.hidden = !open;
    this.el.ended.hidden = open;
    if (open) this.el.endedPortal.hidden = true; // a new chat: its ticket comes later
    if (chat.state === 'waiting' || chat.state === 'offered') {
      this.setQueue(chat.state === 'offered' ? null : chat.queue_position, chat.estimated_wait_seconds);
    }
    if (!open) {
      this.notifier.stop();
      this.indicator.hide();
      this.closeConfirm(false);
      this.el.endedTicket.textContent = chat.ticket_id ? t('widget.ticket_number', { ticket: chat.ticket_id }) : '';
      this.el.endedTicket.hidden = !chat.ticket_id;
      if (previous && OPEN_STATES.has(previous)) this.el.endedTitle.focus();
    }
    if (stick) this.messages.scrollToEnd();
  }

  /** "See your tickets" under the ended chat, opening `url` (the portal, signed in). */
  showPortalLink(url) {
    this.el.endedPortal.href = url;
    this.el.endedPortal.hidden = false;
  }

  setQueue(position, seconds) {
    this.el.waitingText.textContent = queueText(position, seconds);
  }

  addMessage(message) {
    this.messages.addStored(message);
    if (message.sender === 'agent') this.indicator.hide();
  }

  updateOutgoing(entry) {
    this.messages.updateOutgoing(entry);
  }

  showTyping(name) {
    this.indicator.show(t('widget.typing', { name }));
  }

  hideTyping() {
    this.indicator.hide();
  }

  /** Ask for a rating (once per chat; the caller knows whether it was answered). */
  showSurvey() {
    if (!this.rating) {
      this.rating = createRating({ idPrefix: 'widget-survey', onSubmit: (answer) => {
        this.rating.setBusy(true);
        this.handlers.onRate(answer);
      } });
      this.el.survey.append(this.rating.element);
    }
    this.rating.reset();
    this.el.survey.hidden = false;
    this.el.surveyThanks.hidden = true;
  }

  /** The survey is answered (`rated`) or can't be (already answered elsewhere). */
  surveyDone({ thank }) {
    this.el.survey.hidden = true;
    this.el.surveyThanks.hidden = !thank;
  }

  surveyFailed(text) {
    if (!this.rating) return;
    this.rating.setBusy(false);
    this.rating.showError(text);
  }

  focus() {
    if (!this.el.footer.hidden) this.el.input.focus();
    else this.el.endedTitle.focus();
  }
}
