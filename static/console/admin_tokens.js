// Admin → API tokens: tokens for integrations, acting as the admin who made them.
// A new token is shown once (with Copy); afterwards only its prefix and when it was
// last used. Revoking asks once more on the same button.
import { api } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { t } from '../i18n.js';
import { busy, confirmButton, field, formError, input, sectionHead, time } from './admin_common.js';

export class TokensPanel {
  constructor(root, { notice, fail }) {
    this.root = root;
    this.notice = notice;
    this.fail = fail;
    this.error = formError();
    this.name = input({ id: 'token-new-name', maxlength: '120', placeholder: t('admin.token_name_placeholder') });
    this.secretValue = h('code', { class: 'admin__code', id: 'token-secret-value' });
    this.secret = h('div', { class: 'admin__secret', id: 'token-secret', role: 'status', hidden: true },
      h('p', { text: t('admin.token_once') }),
      h('div', { class: 'admin__inline' },
        this.secretValue,
        h('button', {
          type: 'button', class: 'button button--small', id: 'token-copy', text: t('admin.copy'),
          onclick: (event) => this.copy(event.currentTarget),
        })));
    const submit = h('button', { type: 'submit', class: 'button button--primary', id: 'token-submit', text: t('admin.token_create') });
    this.body = h('tbody', { id: 'tokens-body' });
    this.empty = h('p', { class: 'empty admin__empty', text: t('admin.tokens_empty'), hidden: true });
    replace(root,
      sectionHead('admin.tokens_title', () => this.load(), 'admin-tokens-title'),
      h('form', {
        class: 'admin__form', id: 'token-form', novalidate: true,
        onsubmit: (event) => {
          event.preventDefault();
          this.create(submit);
        },
      },
      h('h3', { class: 'admin__subtitle', text: t('admin.token_add') }),
      field('admin.token_name', this.name),
      this.error.el,
      this.secret,
      submit),
      h('div', { class: 'table-wrap admin__table' },
        h('table', { class: 'table table--static', id: 'tokens-table' },
          h('thead', {}, h('tr', {},
            ['admin.col_name', 'admin.token_prefix', 'admin.col_created', 'admin.token_last_used', 'admin.col_status']
              .map((key) => h('th', { scope: 'col', text: t(key) })),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: t('admin.col_actions') })))),
          this.body),
        this.empty));
  }

  reset() {
    this.body.replaceChildren();
    this.secret.hidden = true;
    this.secretValue.textContent = '';
  }

  async load() {
    let data;
    try {
      data = await api('GET', '/api/admin/tokens');
    } catch (error) {
      this.fail(error);
      return;
    }
    const items = Array.isArray(data?.items) ? data.items : [];
    this.empty.hidden = items.length > 0;
    // Newest first: the one just made is on top.
    this.body.replaceChildren(...items.slice().reverse().map((token) => this.row(token)));
  }

  async create(submit) {
    const name = this.name.value.trim();
    this.error.show(name ? '' : t('admin.token_name_missing'));
    if (!name) return;
    const created = await busy(submit, () => api('POST', '/api/admin/tokens', { name }), (error) => this.error.show(error));
    if (!created) return;
    this.name.value = '';
    this.secretValue.textContent = created.token || '';
    this.secret.hidden = !created.token;
    this.notice(t('admin.token_created'), { kind: 'info' });
    await this.load();
  }

  async copy(button) {
    try {
      await navigator.clipboard.writeText(this.secretValue.textContent);
      button.textContent = t('admin.copied');
    } catch {
      // No clipboard permission: select the text so Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents(this.secretValue);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = t('admin.copy_selected');
    }
  }

  row(token) {
    const revoked = Boolean(token.revoked_at);
    return h('tr', { dataset: { tokenId: String(token.id), revoked: String(revoked) } },
      h('td', { class: 'admin__strong', text: token.name || '' }),
      h('td', {}, h('code', { text: `${token.prefix || ''}…` })),
      h('td', {}, time(token.created_at)),
      h('td', {}, token.last_used_at ? time(token.last_used_at) : h('span', { class: 'admin__muted', text: t('admin.token_never_used') })),
      h('td', {}, h('span', {
        class: `status ${revoked ? 'status--closed' : 'status--resolved'}`,
        text: t(revoked ? 'admin.token_revoked' : 'admin.token_active'),
      })),
      h('td', {}, revoked ? null : confirmButton('admin.token_revoke', 'admin.token_revoke_confirm', async (button) => {
        const done = await busy(button, () => api('DELETE', `/api/admin/tokens/${token.id}`), (error) => this.fail(error));
        if (done) this.notice(t('admin.token_revoked_notice', { name: token.name || '' }), { kind: 'info' });
        await this.load();
      })));
  }
}
