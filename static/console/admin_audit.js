// Admin → Audit log: logins, role and permission changes, tokens, settings changes and
// exports, newest first (read-only).
import { api } from '../lib/api.js';
import { byId, h } from '../lib/dom.js';
import { time } from './admin_common.js';

export class AuditPanel {
  /** The section's markup is in index.html; this fills it. */
  constructor(root, { fail }) {
    this.root = root;
    this.fail = fail;
    this.el = { auditBody: byId('audit-body'), auditEmpty: byId('audit-empty') };
    byId('audit-refresh').addEventListener('click', () => this.load());
  }

  reset() {
    this.el.auditBody.replaceChildren();
  }

  load() {
    return this.loadAudit();
  }


  async loadAudit() {
    let data;
    try {
      data = await api('GET', '/api/admin/audit');
    } catch (error) {
      this.fail(error);
      return;
    }
    const items = Array.isArray(data?.items) ? data.items : [];
    this.el.auditEmpty.hidden = items.length > 0;
    this.el.auditBody.replaceChildren(...items.map((entry) => {
      const actor = entry.actor_name
        || [entry.actor_type, entry.actor_id ? `#${entry.actor_id}` : ''].filter(Boolean).join(' ');
      return h('tr', {},
        h('td', {}, time(entry.at)),
        h('td', {}, h('code', { text: entry.action || '' })),
        h('td', { text: actor }),
        h('td', { text: entry.ip || '' }),
        h('td', { class: 'table__subject', text: entry.target || '' }));
    }));
  }
}
