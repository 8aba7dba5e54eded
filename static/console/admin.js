// The Admin tab (admins only): one section per concern, each in a module of its own
// (admin_*.js) with load() and reset(); this switches between them. Everything comes
// from /api/admin/…; server text (addresses, subjects, URLs, errors) only via
// textContent.
import { byId } from '../lib/dom.js';
import { errorText } from '../lib/notices.js';
import { AgentsPanel } from './admin_agents.js';
import { AuditPanel } from './admin_audit.js';
import { OrganizationsPanel } from './admin_orgs.js';
import { OutboxPanel } from './admin_outbox.js';
import { ServicesPanel } from './admin_services.js';
import { TokensPanel } from './admin_tokens.js';
import { WebhooksPanel } from './admin_webhooks.js';
import { WidgetPanel } from './admin_widget.js';

// In the order of the tabs; each section is #admin-<name>, its tab #admin-tab-<name>.
const PANELS = {
  agents: AgentsPanel,
  services: ServicesPanel,
  organizations: OrganizationsPanel,
  tokens: TokensPanel,
  widget: WidgetPanel,
  outbox: OutboxPanel,
  webhooks: WebhooksPanel,
  audit: AuditPanel,
};
const FIRST_SECTION = 'agents';

export class AdminView {
  /** notice(text, options) shows a message in the console's notice area. */
  constructor({ notice }) {
    this.notice = notice;
    this.section = FIRST_SECTION;
    const context = { notice, fail: (error) => this.fail(error) };
    this.panels = Object.fromEntries(Object.entries(PANELS)
      .map(([name, Panel]) => [name, new Panel(byId(`admin-${name}`), context)]));
    this.tabs = Object.keys(PANELS).map((name) => byId(`admin-tab-${name}`));
    for (const tab of this.tabs) tab.addEventListener('click', () => this.showSection(tab.dataset.section));
  }

  fail(error) {
    this.notice(errorText(error, { preferServer: true }));
  }

  /** The tab was opened: load the current section afresh. */
  show() {
    this.showSection(this.section);
  }

  reset() {
    this.section = FIRST_SECTION;
    for (const panel of Object.values(this.panels)) panel.reset();
  }

  showSection(name) {
    if (!this.panels[name]) return;
    this.section = name;
    for (const tab of this.tabs) {
      if (tab.dataset.section === name) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
    for (const [key, panel] of Object.entries(this.panels)) panel.root.hidden = key !== name;
    this.panels[name].load();
  }
}
