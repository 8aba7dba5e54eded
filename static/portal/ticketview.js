// One of my tickets in the portal: what it is, where it stands, the conversation
// (the API never sends internal notes here), my reply, my files — and the actions
// the panel's views are about: confirm or reopen a resolved ticket, rate it, and
// approve a colleague's ticket (designated contacts of an organization).
import { ApiError } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { createRating } from '../lib/rating.js';
import { createUploader, renderAttachments, renderThread } from '../lib/thread.js';
import { requestTypeLabel } from '../lib/ticketlabels.js';
import { formatDateTime, t } from '../i18n.js';
import { portal } from './session.js';
import { customerStatus } from './words.js';

// Closed as a duplicate or a cancelled request: nothing was worked on, nothing to rate.
const NOT_RATED_REASONS = new Set(['duplicate', 'cancelled']);

export class TicketPage {
  /**
   * @param {HTMLElement} root
   * @param {object} context  me() → customer; notice(text, options); backHref(); onChanged(ticket); onError(error)
   */
  constructor(root, context) {
    this.root = root;
    this.context = context;
    this.ticket = null;
    this.id = null;
    this.draft = new Map(); // ticket id → reply text, kept across redraws
  }

  async open(id) {
    this.id = id;
    if (this.ticket?.id !== id) this.root.replaceChildren(h('p', { class: 'portal-loading', text: t('portal.loading') }));
    try {
      const ticket = await portal.request('GET', `/api/portal/tickets/${encodeURIComponent(id)}`);
      if (this.id === id) this.render(ticket, true);
    } catch (error) {
      if (this.id !== id) return;
      if (error instanceof ApiError && error.status === 401) {
        this.context.onError(error);
        return;
      }
      this.ticket = null;
      replace(this.root,
        this.backLink(),
        h('p', { class: 'problem', role: 'alert', text: errorText(error, { preferServer: true }) }),
      );
    }
  }

  /** POST /api/portal/tickets/{id}/{action}; the answer is the ticket, redrawn. */
  async act(action, body = {}) {
    const ticket = this.ticket;
    if (!ticket) return null;
    this.root.setAttribute('aria-busy', 'true');
    try {
      const updated = await portal.request('POST', `/api/portal/tickets/${encodeURIComponent(ticket.id)}/${action}`, body);
      if (this.id === ticket.id) this.render(updated, false);
      this.context.onChanged(updated);
      return updated;
    } catch (error) {
      this.context.notice(errorText(error, { preferServer: true }));
      return null;
    } finally {
      this.root.removeAttribute('aria-busy');
    }
  }

  backLink() {
    return h('a', { class: 'back-link', href: this.context.backHref(), text: t('portal.back_to_tickets') });
  }

  render(ticket, focus) {
    this.ticket = ticket;
    const title = h('h1', { class: 'ticket-page__title', tabindex: '-1' },
      h('span', { class: 'ticket-page__id', text: `#${ticket.id} ` }),
      ticket.subject || t('portal.no_subject'));
    const closed = ticket.status === 'closed';
    replace(this.root,
      this.backLink(),
      h('div', { class: 'card' },
        h('header', { class: 'ticket-page__header' },
          title,
          h('span', { class: `status status--${ticket.status}`, text: customerStatus(ticket) })),
        this.renderMeta(ticket),
        this.renderCallout(ticket),
        this.renderRating(ticket),
      ),
      h('section', { class: 'card', 'aria-labelledby': `thread-${ticket.id}` },
        h('h2', { class: 'card__subtitle', id: `thread-${ticket.id}`, text: t('portal.conversation') }),
        renderThread(ticket.messages),
        closed ? null : this.renderReply(ticket),
      ),
      h('section', { class: 'card', 'aria-labelledby': `files-${ticket.id}` },
        h('h2', { class: 'card__subtitle', id: `files-${ticket.id}`, text: t('ticket.attachments') }),
        renderAttachments(ticket.attachments),
        closed ? null : createUploader({ id: `upload-${ticket.id}`, onUpload: (file) => this.upload(file) }),
      ),
    );
    if (focus) title.focus();
  }

  renderMeta(ticket) {
    const rows = [
      ['portal.col_service', ticket.service],
      ['ticket.request_type', requestTypeLabel(ticket.request_type)],
      ['portal.handled_by', ticket.agent?.name],
      ['ticket.cc', (ticket.cc || []).join(', ')],
      ['portal.opened', formatDateTime(ticket.created_at)],
      ['portal.col_updated', formatDateTime(ticket.updated_at)],
    ].filter(([, value]) => value);
    return h('dl', { class: 'meta' }, rows.flatMap(([key, value]) => [h('dt', { text: t(key) }), h('dd', { text: value })]));
  }

  /** What the customer can do now, in the panel's words (seeds/002). */
  renderCallout(ticket) {
    const me = this.context.me();
    if (ticket.awaiting_approval && ticket.status !== 'closed') {
      const mine = ticket.requester?.id === me?.id;
      return h('div', { class: 'callout callout--attention' },
        h('p', { class: 'callout__text', text: mine ? t('portal.approval_waiting') : t('portal.approval_needed', { name: ticket.requester?.name || '' }) }),
        mine ? null : h('div', { class: 'callout__actions' },
          h('button', { type: 'button', class: 'button button--primary', text: t('portal.approve'), onclick: () => this.act('approve') })));
    }
    switch (ticket.status) {
      case 'resolved':
        return h('div', { class: 'callout callout--success' },
          h('p', { class: 'callout__text', text: t('portal.resolved_text') }),
          h('div', { class: 'callout__actions' },
            h('button', { type: 'button', class: 'button button--primary', text: t('portal.confirm'), onclick: () => this.act('confirm') }),
            h('button', { type: 'button', class: 'button', text: t('portal.reopen'), onclick: () => this.act('reopen') })));
      case 'pending':
        return h('div', { class: 'callout callout--attention' }, h('p', { class: 'callout__text', text: t('portal.pending_text') }));
      case 'closed':
        return h('div', { class: 'callout' },
          h('p', { class: 'callout__text', text: t('portal.closed_text') }),
          h('div', { class: 'callout__actions' }, h('a', { class: 'button', href: '#/new', text: t('portal.new_ticket') })));
      default:
        return h('div', { class: 'callout' }, h('p', { class: 'callout__text', text: t('portal.in_progress_text') }));
    }
  }

  /** 1–5 once resolved or closed; the answer, once given. */
  renderRating(ticket) {
    const survey = ticket.survey;
    if (survey && survey.rating !== null && survey.rating !== undefined) {
      return h('div', { class: 'rated' },
        h('strong', { text: t('portal.your_rating', { rating: survey.rating }) }),
        survey.comment ? h('q', { class: 'rated__comment', text: survey.comment }) : null);
    }
    if (!['resolved', 'closed'].includes(ticket.status) || NOT_RATED_REASONS.has(ticket.close_reason)) return null;
    const rating = createRating({
      idPrefix: `rate-${ticket.id}`,
      question: t('portal.rate_question'),
      onSubmit: async ({ rating: value, comment }) => {
        rating.setBusy(true);
        const updated = await this.act('rate', comment ? { rating: value, comment } : { rating: value });
        if (!updated) rating.setBusy(false);
        else this.context.notice(t('widget.survey_thanks'), { kind: 'info' });
      },
    });
    return h('div', { class: 'rate' }, rating.element);
  }

  renderReply(ticket) {
    const id = `reply-${ticket.id}`;
    const body = h('textarea', { id, class: 'input reply__body', rows: '4', value: this.draft.get(ticket.id) || '', placeholder: t('portal.reply_placeholder') });
    body.addEventListener('input', () => this.draft.set(ticket.id, body.value));
    const send = h('button', { type: 'submit', class: 'button button--primary', text: t('portal.send_reply') });
    const form = h('form', { class: 'reply', novalidate: true },
      h('label', { class: 'label', for: id, text: ticket.status === 'resolved' ? t('portal.reply_label_resolved') : t('portal.reply_label') }),
      body,
      h('div', { class: 'reply__actions' }, send));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = body.value.trim();
      if (!text) {
        body.focus();
        return;
      }
      send.disabled = true;
      // Sent text must not come back in the redraw; a failed send keeps it.
      const draft = this.draft.get(ticket.id);
      this.draft.delete(ticket.id);
      const updated = await this.act('replies', { body: text });
      send.disabled = false;
      if (updated) this.context.notice(t('portal.reply_sent'), { kind: 'info' });
      else if (draft) this.draft.set(ticket.id, draft);
    });
    return form;
  }

  async upload(file) {
    const ticket = this.ticket;
    if (!ticket) return;
    try {
      await portal.upload(`/api/portal/tickets/${encodeURIComponent(ticket.id)}/attachments`, file);
      this.context.notice(t('ticket.file_attached', { name: file.name }), { kind: 'info' });
      await this.open(ticket.id);
    } catch (error) {
      this.context.notice(errorText(error, { preferServer: true }));
    }
  }
}
