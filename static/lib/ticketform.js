// What the console's "New ticket" dialog (Alt+T) and the portal's new ticket form
// share: the service list, the chosen service's categories, the CC chips, the error
// line, and one submit flow (check → disable → send → report). Each form says only
// which fields it has, what is missing, and how it sends.
import { byId, h, replace } from './dom.js';
import { createEmailChips } from './emailchips.js';
import { errorText } from './notices.js';

export class TicketForm {
  /**
   * @param {object} el  form, service, categoryField, category, error, submit (+ the form's own)
   * @param {object} options  ccId, ccListId, categories(serviceId) → Promise<[...]>,
   *   categoryPlaceholder() → text, categoryRequired (bool)
   */
  constructor(el, options) {
    this.el = el;
    this.options = options;
    this.cc = createEmailChips({ id: options.ccId, listId: options.ccListId });
    byId(`${options.ccId}-field`).replaceChildren(this.cc.element);
    el.service.addEventListener('change', () => this.loadCategories());
    el.form.addEventListener('submit', (event) => this.submit(event));
  }

  /** Fill the service list, keeping the current choice; `placeholder` adds an empty first option. */
  fillServices(services, placeholder = null) {
    const keep = this.el.service.value;
    replace(this.el.service,
      placeholder === null ? [] : h('option', { value: '', text: placeholder }),
      services.map((service) => h('option', { value: String(service.id), text: service.name })),
    );
    if (keep) this.el.service.value = keep;
  }

  async loadCategories() {
    const serviceId = Number(this.el.service.value);
    const items = serviceId ? await this.options.categories(serviceId) : [];
    if (Number(this.el.service.value) !== serviceId) return; // changed meanwhile
    replace(this.el.category,
      h('option', { value: '', text: this.options.categoryPlaceholder() }),
      items.map((item) => h('option', { value: String(item.id), text: item.name })),
    );
    this.el.categoryField.hidden = items.length === 0;
    if (this.options.categoryRequired) this.el.category.required = items.length > 0;
  }

  /** The chosen category's id, when the service has categories and one is chosen. */
  categoryId() {
    const { categoryField, category } = this.el;
    return !categoryField.hidden && category.value ? Number(category.value) : null;
  }

  showError(text) {
    this.el.error.textContent = text;
    this.el.error.hidden = !text;
  }

  /** Subclasses: [message, field] for the first thing missing, or null when complete. */
  missing() {
    return null;
  }

  /** Subclasses: send the form; throw to show the error. */
  async send() {}

  async submit(event) {
    event.preventDefault(); // a dialog's method="dialog" would close it even with errors
    if (!this.cc.commit()) return;
    const problem = this.missing();
    if (problem) {
      this.showError(problem[0]);
      problem[1].focus();
      return;
    }
    this.el.submit.disabled = true;
    this.showError('');
    try {
      await this.send();
    } catch (error) {
      this.showError(errorText(error, { preferServer: true }));
    } finally {
      this.el.submit.disabled = false;
    }
  }
}
