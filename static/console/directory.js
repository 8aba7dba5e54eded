// What the Tickets tab knows about the desk around a ticket: services and their
// categories, the agents (admins may list them; others only know themselves) and
// the people seen as requesters or CCs (for address completion in the forms).
import { api } from '../lib/api.js';
import { byId } from '../lib/dom.js';
import { fillEmailList } from '../lib/emailchips.js';
import { t } from '../i18n.js';

export class Directory {
  /** @param {object} context  me() → the signed-in agent; serviceName(id) fallback */
  constructor(context) {
    this.context = context;
    this.services = [];
    this.agents = new Map(); // id → {id, name, email}
    this.canListAgents = null; // unknown until asked; false for non-admins
    this.people = new Map(); // email → name
    this.categoryCache = new Map(); // service id → Promise<[{id, name}]>
    this.peopleList = byId('known-emails');
    this.harvested = false;
  }

  reset() {
    this.agents.clear();
    this.canListAgents = null;
    this.people.clear();
    this.categoryCache.clear();
    this.harvested = false;
    this.peopleList.replaceChildren();
  }

  me() {
    return this.context.me() || {};
  }

  async loadServices() {
    try {
      const data = await api('GET', '/api/services');
      if (Array.isArray(data?.services)) this.services = data.services;
    } catch {
      // The console still works with the names the websocket sent.
    }
    return this.services;
  }

  serviceName(id) {
    return this.services.find((service) => service.id === id)?.name || this.context.serviceName(id);
  }

  /** Admins get every agent for the assignee pickers; anyone else only "me". */
  async loadAgents() {
    if (this.canListAgents !== null) return this.canListAgents;
    // Only admins may list agents: don't even ask otherwise (a 403 would only be noise).
    if (this.me().role !== 'admin') {
      this.canListAgents = false;
      return false;
    }
    try {
      const data = await api('GET', '/api/admin/agents');
      for (const agent of data?.items || []) {
        if (agent.active !== false) this.agents.set(agent.id, agent);
      }
      this.canListAgents = true;
    } catch {
      this.canListAgents = false;
    }
    return this.canListAgents;
  }

  agentName(id) {
    if (id === null || id === undefined || id === '') return '';
    const me = this.me();
    if (Number(id) === me.id) return me.name || t('tickets.assignee_me');
    return this.agents.get(Number(id))?.name || t('tickets.agent_number', { id });
  }

  /** Other agents to offer in an assignee picker (not me: "me" has its own entry). */
  otherAgents() {
    const me = this.me();
    return [...this.agents.values()].filter((agent) => agent.id !== me.id)
      .sort((a, b) => (a.name || '').localeCompare(b.name || ''));
  }

  /** A service's active categories (cached; [] when it has none or on error). */
  categories(serviceId) {
    if (!serviceId) return Promise.resolve([]);
    if (!this.categoryCache.has(serviceId)) {
      const request = api('GET', `/api/services/${encodeURIComponent(serviceId)}/categories`)
        .then((data) => data?.items || [])
        .catch(() => {
          this.categoryCache.delete(serviceId);
          return [];
        });
      this.categoryCache.set(serviceId, request);
    }
    return this.categoryCache.get(serviceId);
  }

  /** Learn requester and CC addresses from tickets (summaries or details). */
  rememberPeople(tickets) {
    let changed = false;
    for (const ticket of tickets) {
      const requester = ticket?.requester;
      if (requester?.email && this.people.get(requester.email) !== requester.name) {
        this.people.set(requester.email, requester.name || '');
        changed = true;
      }
      for (const email of ticket?.cc || []) {
        if (!this.people.has(email)) {
          this.people.set(email, '');
          changed = true;
        }
      }
    }
    if (changed) fillEmailList(this.peopleList, this.people);
  }

  /** Once per session: read a big page of tickets so completion knows past requesters. */
  async harvestPeople() {
    if (this.harvested) return;
    this.harvested = true;
    try {
      const data = await api('GET', '/api/tickets?per_page=100');
      this.rememberPeople(data?.items || []);
    } catch {
      this.harvested = false;
    }
  }
}
