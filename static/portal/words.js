// How a ticket's state reads to the customer: the panel's words ("awaiting your
// response"), not the desk's ("pending").
import { hasKey, t } from '../i18n.js';

/** The status as the customer sees it; a ticket held for approval says so. */
export function customerStatus(ticket) {
  if (ticket.awaiting_approval && ticket.status === 'new') return t('portal.status.awaiting_approval');
  const key = `portal.status.${ticket.status}`;
  return hasKey(key) ? t(key) : String(ticket.status || '');
}
