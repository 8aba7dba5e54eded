// What each server frame does to the widget (docs/protocol.md, "server → client").
// The screens and the state they read live in app.js; this is the table from a
// frame type to its effect, so the protocol can be read in one place.
import { byId } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { t } from '../i18n.js';

const OPEN_STATES = new Set(['waiting', 'offered', 'active']);
// The chat the customer put aside with "Start a new chat": don't show it again.
export const DISMISSED_KEY = 'chatdesk.dismissed_chat';

/**
 * @param {object} ui  what the handlers act on: state, form, chatView, conn(), storage,
 *   params, route(), renderHeader(), showScreen(name), endPending(), notice(text),
 *   countUnread(message) (also rings the chime), markRead() (the chat is in view: say so, docs/protocol.md "Receipts")
 */
export function frameHandlers(ui) {
  const { state, form, chatView, storage, params } = ui;
  const { route, renderHeader, showScreen, endPending, notice, countUnread } = ui;
  return {
    welcome(frame) {
      state.customer = frame.customer || null;
      state.services = Array.isArray(frame.services) ? frame.services : [];
      const chat = frame.chat || null;
      if (!state.history) state.history = { chatId: chat?.id ?? null, seq: chat?.last_seq ?? 0 };
      if (chat?.id !== state.chat?.id) chatView.clear();
      state.chat = chat;
      state.agentName = chat?.agent?.name || null;
      if (chat?.receipts) chatView.setReceipts(chat.receipts.agent);
      form.setServices(state.services, Number(params.get('service')) || null);
      form.prefill({ name: state.customer?.name || state.user?.name, email: state.customer?.email || state.user?.email });
      byId('widget').setAttribute('aria-busy', 'false');
      route();
    },

    desk_status(frame) {
      if (!Array.isArray(frame.services)) return;
      state.services = frame.services;
      form.setServices(state.services);
      renderHeader();
    },

    chat(frame) {
      const chat = frame.chat;
      if (!chat) return;
      const isNew = chat.id !== state.chat?.id;
      if (isNew) {
        chatView.clear();
        state.surveyShown = null;
        // Its first messages may have come in before this frame did.
        const transcript = ui.conn().transcript;
        if (transcript?.chatId === chat.id) transcript.messages().forEach((m) => chatView.addMessage(m));
      }
      if (!isNew && chat.queue_position == null && state.chat.queue_position != null) {
        // Snapshots may leave the queue out; `queue` frames keep it. Don't forget it.
        chat.queue_position = state.chat.queue_position;
        chat.estimated_wait_seconds = state.chat.estimated_wait_seconds;
      }
      state.chat = chat;
      state.agentName = chat.agent?.name || state.agentName;
      if (chat.receipts) chatView.setReceipts(chat.receipts.agent);
      if (state.pending === 'start_chat' && isNew) {
        endPending();
        form.clearConversation();
        state.screen = 'loading'; // leave the form even if we came from "thanks"
      }
      route();
    },

    queue(frame) {
      if (!state.chat || frame.chat_id !== state.chat.id) return;
      state.chat.queue_position = frame.queue_position;
      state.chat.estimated_wait_seconds = frame.estimated_wait_seconds;
      if (state.chat.state === 'waiting') chatView.setQueue(frame.queue_position, frame.estimated_wait_seconds);
    },

    assigned(frame) {
      if (!state.chat || frame.chat_id !== state.chat.id) return;
      state.chat.agent = frame.agent || null;
      state.agentName = frame.agent?.name || null;
      if (state.chat.state === 'waiting' || state.chat.state === 'offered') state.chat.state = 'active';
      route();
    },

    message(frame) {
      if (state.chat && frame.chat_id === state.chat.id) chatView.addMessage(frame);
      countUnread(frame);
      ui.markRead();
    },

    receipt(frame) {
      if (frame.by !== 'agent' || !state.chat || frame.chat_id !== state.chat.id) return;
      chatView.setReceipts(frame);
    },

    ack(frame, { entry }) {
      if (entry) chatView.updateOutgoing(entry);
    },

    typing(frame) {
      if (!state.chat || frame.chat_id !== state.chat.id || frame.sender === 'customer') return;
      if (frame.is_typing) chatView.showTyping(state.agentName || t('widget.agent'));
      else chatView.hideTyping();
    },

    ended(frame) {
      if (!state.chat || frame.chat_id !== state.chat.id) return;
      Object.assign(state.chat, { state: 'ended', ended_by: frame.ended_by, ticket_id: frame.ticket_id });
      route();
    },

    survey(frame) {
      if (!state.chat || frame.chat_id !== state.chat.id || state.surveyDone.has(frame.chat_id)) return;
      if (state.chat.survey !== 'answered') state.chat.survey = 'pending';
      route();
    },

    rated(frame) {
      state.surveyDone.add(frame.chat_id);
      if (state.chat?.id === frame.chat_id) state.chat.survey = 'answered';
      chatView.surveyDone({ thank: true });
    },

    missed(frame) {
      state.missed = { chat_id: frame.chat_id, ticket_id: frame.ticket_id, next_open: frame.next_open };
      if (state.chat?.id === frame.chat_id) Object.assign(state.chat, { state: 'missed', ticket_id: frame.ticket_id });
      route();
    },

    ticket_created(frame) {
      endPending();
      if (state.chat && !OPEN_STATES.has(state.chat.state)) {
        state.dismissed = state.chat.id;
        storage.set(DISMISSED_KEY, String(state.chat.id));
      }
      state.missed = null;
      form.setMissed(null);
      form.clearConversation();
      byId('thanks-ticket').textContent = t('widget.ticket_number', { ticket: frame.ticket_id });
      showScreen('thanks');
    },

    error(frame, { entry }) {
      if (entry) chatView.updateOutgoing(entry);
      const ref = frame.ref;
      if (frame.code === 'bad_token') return; // the connection starts a new customer by itself
      if (frame.code === 'desk_unavailable') {
        endPending();
        const service = form.selectedService();
        if (service) {
          service.available = false;
          if (frame.next_open) Object.assign(service, { open: false, next_open: frame.next_open });
        }
        form.render();
        renderHeader();
        return;
      }
      if (ref === 'start_chat' || ref === 'leave_message' || ref === state.pending) endPending();
      // A field the service requires was left out: say so under the field itself.
      if (frame.code === 'field_required' && form.showRequired(frame.field)) return;
      if (ref === 'rate' || ['survey_already_answered', 'no_survey', 'invalid_rating'].includes(frame.code)) {
        if (frame.code === 'invalid_rating') return chatView.surveyFailed(errorText(frame));
        if (state.chat) state.surveyDone.add(state.chat.id);
        chatView.surveyDone({ thank: false });
      }
      notice(errorText(frame));
    },
  };
}
