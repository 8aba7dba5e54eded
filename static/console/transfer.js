// "Transfer" in a chat: to a named colleague (GET /api/agents: presence and load,
// those who can take it now first) or to a service's queue. The `transfer` frame is
// the one in docs/protocol.md; a refusal (`agent_unavailable`: full, away, offline)
// comes back as an error frame with ref "transfer" and is shown right here.
import { api } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { formatNumber, t } from '../i18n.js';

export class TransferPanel {
  /**
   * @param {object} context  chatId; me() → agent; services() → [service];
   *   serviceId() → the chat's service; send(frame) → bool; onHide()
   */
  constructor(context) {
    this.context = context;
    this.pending = null; // {kind, id, name} of the transfer sent last
    this.roster = [];
    const id = context.chatId;
    this.agentsBox = h('div', { class: 'transfer__options', role: 'radiogroup', 'aria-labelledby': `transfer-agents-${id}` });
    this.servicesBox = h('div', { class: 'transfer__options', role: 'radiogroup', 'aria-labelledby': `transfer-services-${id}` });
    this.error = h('p', { class: 'form-error transfer__error', role: 'alert', hidden: true });
    this.submit = h('button', { type: 'submit', class: 'button button--small button--primary', text: t('console.transfer'), disabled: true });
    this.el = h('form', {
      class: 'chat-pane__choice transfer', hidden: true, 'aria-label': t('console.transfer_to'),
      onsubmit: (event) => {
        event.preventDefault();
        this.transfer();
      },
      onchange: () => {
        this.submit.disabled = !this.choice();
      },
    },
      h('div', { class: 'transfer__columns' },
        h('div', { class: 'transfer__group' },
          h('span', { class: 'chat-pane__choice-label', id: `transfer-agents-${id}`, text: t('transfer.to_agent') }),
          this.agentsBox),
        h('div', { class: 'transfer__group' },
          h('span', { class: 'chat-pane__choice-label', id: `transfer-services-${id}`, text: t('transfer.to_service') }),
          this.servicesBox),
      ),
      this.error,
      h('div', { class: 'transfer__actions' },
        this.submit,
        h('button', {
          type: 'button', class: 'button button--small button--ghost', text: t('common.cancel'),
          onclick: () => this.hide(),
        }),
      ),
    );
  }

  get isOpen() {
    return !this.el.hidden;
  }

  async show() {
    this.el.hidden = false;
    this.showError('');
    this.renderServices();
    this.agentsBox.replaceChildren(h('p', { class: 'empty', text: t('console.loading') }));
    this.submit.disabled = true;
    await this.loadRoster();
    this.el.querySelector('input:not([disabled])')?.focus();
  }

  hide() {
    this.el.hidden = true;
    this.context.onHide?.();
  }

  async loadRoster() {
    try {
      const data = await api('GET', '/api/agents');
      const me = this.context.me()?.id;
      this.roster = (data?.items || []).filter((agent) => agent.id !== me);
      this.renderAgents();
    } catch (error) {
      this.agentsBox.replaceChildren(h('p', { class: 'form-error', text: errorText(error, { preferServer: true }) }));
    }
  }

  renderAgents() {
    if (!this.roster.length) {
      this.agentsBox.replaceChildren(h('p', { class: 'empty', text: t('transfer.no_agents') }));
      return;
    }
    this.agentsBox.replaceChildren(...this.roster.map((agent) => this.option(
      `agent:${agent.id}`,
      agent.name,
      agentState(agent),
      !agent.available,
      agent.available ? 'online' : agent.presence,
    )));
  }

  renderServices() {
    const current = this.context.serviceId();
    const services = this.context.services().filter((service) => service.id !== current);
    if (!services.length) {
      this.servicesBox.replaceChildren(h('p', { class: 'empty', text: t('transfer.no_services') }));
      return;
    }
    this.servicesBox.replaceChildren(...services.map((service) => this.option(
      `service:${service.id}`,
      service.name,
      service.available === false ? t('transfer.service_nobody') : t('transfer.service_queue'),
      false,
      null,
    )));
  }

  option(value, name, detail, disabled, presence) {
    return h('label', { class: `transfer__option${disabled ? ' is-disabled' : ''}` },
      h('input', { type: 'radio', name: `transfer-${this.context.chatId}`, value, disabled }),
      presence ? h('span', { class: `presence-dot presence-dot--${presence}`, 'aria-hidden': 'true' }) : null,
      h('span', { class: 'transfer__name', text: name }),
      h('span', { class: 'transfer__detail', text: detail }),
    );
  }

  choice() {
    const checked = this.el.querySelector('input[type="radio"]:checked');
    if (!checked) return null;
    const [kind, id] = checked.value.split(':');
    const name = checked.closest('label')?.querySelector('.transfer__name')?.textContent || '';
    return { kind, id: Number(id), name };
  }

  transfer() {
    const choice = this.choice();
    if (!choice) return;
    const frame = { type: 'transfer', chat_id: this.context.chatId };
    if (choice.kind === 'agent') frame.agent_id = choice.id;
    else frame.service_id = choice.id;
    this.showError('');
    if (this.context.send(frame)) {
      this.pending = choice;
      this.submit.disabled = true;
    }
  }

  /** The server refused the transfer: say why, here, and show who can take it now. */
  failed(frame) {
    const name = this.pending?.name || '';
    const reason = errorText(frame, { preferServer: false });
    this.pending = null;
    if (this.el.hidden) this.el.hidden = false;
    this.showError(name ? t('transfer.refused', { name, reason }) : reason);
    this.loadRoster();
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }
}

/** "1 of 3 chats", or why they can't take it. */
function agentState(agent) {
  const load = t('transfer.load', { open: formatNumber(agent.open_chats), capacity: formatNumber(agent.capacity) });
  if (agent.available) return load;
  if (agent.presence === 'online' && agent.connected) return t('transfer.full', { load });
  if (agent.presence === 'away') return t('transfer.away');
  return t('transfer.offline');
}
