// One ticket in the console's Tickets tab: its fields, SLA clocks, the thread with
// internal notes, the reply box ("send as" public reply or internal note, "then set
// status"), files, merge and the history of every change.
import { api, uploadFile } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { renderAttachments, renderThread, createUploader } from '../lib/thread.js';
import { label, priorityLabel, requestTypeLabel, statusLabel } from '../lib/ticketlabels.js';
import { formatDateTime, t } from '../i18n.js';
import { assignControl, fieldsForm, mergeForm, statusControl } from './ticketactions.js';
import { slaBadge, slaSection } from './ticketsla.js';

const REPLY_STATUSES = ['open', 'pending', 'resolved'];

export class TicketDetail {
  /**
   * @param {HTMLElement} root
   * @param {object} context  directory (Directory), notice(text, options), onChanged(ticket)
   */
  constructor(root, context) {
    this.root = root;
    this.context = context;
    this.ticket = null;
    this.openId = null;
    this.drafts = new Map(); // ticket id → {body, internal}: survives redraws
    this.act = this.act.bind(this); // handed to the controls in ticketactions.js
  }

  reset() {
    this.ticket = null;
    this.openId = null;
    this.drafts.clear();
    this.root.replaceChildren(h('p', { class: 'empty', text: t('console.ticket_pick') }));
  }

  async open(id, { focus = true } = {}) {
    this.openId = id;
    if (this.ticket?.id !== id) {
      this.root.replaceChildren(h('p', { class: 'empty', text: t('console.loading') }));
    }
    try {
      const ticket = await api('GET', `/api/tickets/${encodeURIComponent(id)}`);
      if (this.openId === id) this.render(ticket, { focus });
    } catch (error) {
      if (this.openId === id) {
        this.ticket = null;
        this.root.replaceChildren(h('p', { class: 'form-error', text: errorText(error, { preferServer: true }) }));
      }
    }
  }

  /** Send one change (`path` after /api/tickets/{id}/) and redraw from the answer. */
  async act(method, path, body) {
    const ticket = this.ticket;
    if (!ticket) return null;
    this.root.setAttribute('aria-busy', 'true');
    try {
      const suffix = path ? `/${path}` : '';
      const updated = await api(method, `/api/tickets/${encodeURIComponent(ticket.id)}${suffix}`, body);
      if (this.openId === ticket.id) this.render(updated, { focus: false });
      this.context.onChanged(updated);
      return updated;
    } catch (error) {
      this.context.notice(errorText(error, { preferServer: true }));
      return null;
    } finally {
      this.root.removeAttribute('aria-busy');
    }
  }

  render(ticket, { focus = true } = {}) {
    this.ticket = ticket;
    this.context.directory.rememberPeople([ticket]);
    const { directory } = this.context;
    const title = h('h2', { class: 'ticket__title', tabindex: '-1' },
      h('span', { class: 'ticket__id', text: `#${ticket.id} ` }),
      ticket.subject || t('console.no_subject'));
    const closed = ticket.status === 'closed';
    replace(this.root,
      h('header', { class: 'ticket__header' },
        title,
        h('div', { class: 'ticket__badges' },
          h('span', { class: `status status--${ticket.status}`, text: statusLabel(ticket.status) }),
          h('span', { class: `priority priority--${ticket.priority}`, text: priorityLabel(ticket.priority) }),
          slaBadge(ticket),
          ticket.awaiting_approval ? h('span', { class: 'tag tag--warning', text: t('tickets.awaiting_approval') }) : null,
          ticket.merged_into_id ? h('span', { class: 'tag', text: t('tickets.merged_into_id', { id: ticket.merged_into_id }) }) : null,
        ),
      ),
      h('div', { class: 'ticket__actions' },
        statusControl(ticket, this.act),
        assignControl(ticket, directory, this.act),
      ),
      this.renderMeta(ticket),
      h('h3', { class: 'ticket__section', text: t('tickets.sla') }),
      slaSection(ticket.sla),
      this.renderSurvey(ticket.survey),
      h('details', { class: 'ticket__more' },
        h('summary', { text: t('tickets.edit_fields') }),
        fieldsForm(ticket, directory, this.act)),
      h('h3', { class: 'ticket__section', text: t('ticket.thread') }),
      renderThread(ticket.messages),
      closed ? h('p', { class: 'ticket__final', text: t('tickets.closed_no_reply') }) : this.renderReply(ticket),
      h('h3', { class: 'ticket__section', text: t('ticket.attachments') }),
      renderAttachments(ticket.attachments),
      closed ? null : createUploader({ id: `upload-${ticket.id}`, onUpload: (file) => this.upload(file) }),
      closed ? null : h('details', { class: 'ticket__more' },
        h('summary', { text: t('tickets.merge_title') }),
        mergeForm(ticket, this.act)),
      h('details', { class: 'ticket__more' },
        h('summary', { text: t('tickets.history') }),
        this.renderHistory(ticket)),
    );
    if (focus) title.focus();
  }

  renderMeta(ticket) {
    const requester = ticket.requester || {};
    const { directory } = this.context;
    const meta = [
      ['ticket.service', directory.serviceName(ticket.service_id) || ticket.service],
      ['ticket.requester', [requester.name, requester.email && `<${requester.email}>`].filter(Boolean).join(' ')
        || t('tickets.customer_number', { id: requester.id ?? '' })],
      ['ticket.request_type', requestTypeLabel(ticket.request_type)],
      ['ticket.cc', (ticket.cc || []).join(', ')],
      ['ticket.tags', (ticket.tags || []).join(', ')],
      ['ticket.origin', label('ticket.origin', ticket.origin)],
      ['ticket.close_reason', label('ticket.close_reason', ticket.close_reason)],
      ['ticket.created', formatDateTime(ticket.created_at)],
      ['ticket.updated', formatDateTime(ticket.updated_at)],
    ].filter(([, value]) => value);
    return h('dl', { class: 'ticket__meta' }, meta.flatMap(([key, value]) => [
      h('dt', { text: t(key) }), h('dd', { text: value }),
    ]));
  }

  renderSurvey(survey) {
    if (!survey || survey.rating === null || survey.rating === undefined) {
      return h('p', { class: 'ticket__survey ticket__survey--none', text: t('ticket.not_rated') });
    }
    return h('div', { class: 'ticket__survey' },
      h('strong', { text: t('ticket.rating', { rating: survey.rating }) }),
      survey.comment ? h('q', { class: 'ticket__comment', text: survey.comment }) : null,
    );
  }

  /** The reply box: public reply or internal note, then optionally a new status. */
  renderReply(ticket) {
    const id = `reply-${ticket.id}`;
    const draft = this.drafts.get(ticket.id) || { body: '', internal: false };
    const body = h('textarea', { id, class: 'input reply__body', rows: '4', value: draft.body });
    const modeName = `reply-mode-${ticket.id}`;
    const publicRadio = h('input', { type: 'radio', name: modeName, value: 'public', checked: !draft.internal });
    const internalRadio = h('input', { type: 'radio', name: modeName, value: 'internal', checked: draft.internal });
    const choices = REPLY_STATUSES.filter((status) => status === ticket.status || (ticket.allowed_statuses || []).includes(status));
    const statusId = `reply-status-${ticket.id}`;
    const status = h('select', { id: statusId, class: 'input input--small' },
      h('option', { value: '', text: t('tickets.reply_keep_status', { status: statusLabel(ticket.status) }) }),
      choices.filter((value) => value !== ticket.status).map((value) => h('option', { value, text: statusLabel(value) })));
    const send = h('button', { type: 'submit', class: 'button button--primary button--small' });
    const form = h('form', { class: 'reply', novalidate: true },
      h('label', { class: 'label', for: id, text: t('tickets.reply_label') }),
      body,
      h('div', { class: 'reply__options' },
        h('fieldset', { class: 'reply__mode' },
          h('legend', { class: 'reply__legend', text: t('tickets.send_as') }),
          h('label', { class: 'radio' }, publicRadio, ' ', t('tickets.send_as_public')),
          h('label', { class: 'radio' }, internalRadio, ' ', t('tickets.send_as_internal')),
        ),
        h('div', { class: 'reply__status' },
          h('label', { class: 'reply__legend', for: statusId, text: t('tickets.then_set_status') }),
          status),
        send,
      ),
    );
    const sync = () => {
      const internal = internalRadio.checked;
      form.classList.toggle('reply--internal', internal);
      status.disabled = internal; // notes never change the status (the server ignores it)
      send.textContent = internal ? t('tickets.add_note') : t('tickets.send_reply');
      body.placeholder = internal ? t('tickets.note_placeholder') : t('tickets.reply_placeholder');
      this.drafts.set(ticket.id, { body: body.value, internal });
    };
    for (const input of [publicRadio, internalRadio]) input.addEventListener('change', sync);
    body.addEventListener('input', sync);
    sync();
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = body.value.trim();
      if (!text) {
        body.focus();
        return;
      }
      const payload = { body: text, internal: internalRadio.checked };
      if (!payload.internal && status.value) payload.status = status.value;
      send.disabled = true;
      // Sent text must not come back in the redraw; a failed send keeps it.
      const draft = this.drafts.get(ticket.id);
      this.drafts.delete(ticket.id);
      const updated = await this.act('POST', 'replies', payload);
      send.disabled = false;
      if (!updated && draft) this.drafts.set(ticket.id, draft);
      if (updated && this.openId === ticket.id) this.root.querySelector('.reply__body')?.focus();
    });
    return form;
  }

  async upload(file) {
    const ticket = this.ticket;
    if (!ticket) return;
    try {
      await uploadFile(`/api/tickets/${encodeURIComponent(ticket.id)}/attachments`, file);
      this.context.notice(t('ticket.file_attached', { name: file.name }), { kind: 'info' });
      await this.open(ticket.id, { focus: false });
    } catch (error) {
      this.context.notice(errorText(error, { preferServer: true }));
    }
  }

  renderHistory(ticket) {
    const events = ticket.history || [];
    if (!events.length) return h('p', { class: 'empty', text: t('tickets.history_empty') });
    return h('ol', { class: 'history' }, events.slice().reverse().map((event) => h('li', { class: 'history__item' },
      h('time', { datetime: event.at, text: formatDateTime(event.at) }),
      h('span', { class: 'history__who', text: this.actorName(ticket, event) }),
      h('span', { class: 'history__what', text: this.describe(event) }),
    )));
  }

  actorName(ticket, event) {
    if (event.actor_name) return event.actor_name; // when the server names them
    if (event.actor_type === 'agent') return this.context.directory.agentName(event.actor_id);
    if (event.actor_type === 'customer') {
      return event.actor_id === ticket.requester?.id && ticket.requester?.name
        ? ticket.requester.name
        : t('ticket.author.customer');
    }
    return t('ticket.author.system');
  }

  /** "Status: Open → Pending", with each value in words. */
  describe(event) {
    const field = label('history.field', event.field) || event.field;
    const value = (raw, name) => {
      if (raw === null || raw === undefined || raw === '') return t('history.none');
      return name || this.valueText(event.field, raw); // an assignee's name, when the server sends it
    };
    if (event.from === null || event.from === undefined) {
      return t('history.set', { field, to: value(event.to, event.to_name) });
    }
    return t('history.changed', {
      field, from: value(event.from, event.from_name), to: value(event.to, event.to_name),
    });
  }

  valueText(field, raw) {
    const { directory } = this.context;
    switch (field) {
      case 'status': return statusLabel(raw);
      case 'priority': return priorityLabel(raw);
      case 'agent': return directory.agentName(raw);
      case 'close_reason': return label('ticket.close_reason', raw);
      case 'request_type': return requestTypeLabel(raw);
      case 'service_id': return directory.serviceName(Number(raw)) || `#${raw}`;
      case 'merged_into': return `#${raw}`;
      case 'approval': return label('history.approval', raw);
      default: return String(raw);
    }
  }
}
