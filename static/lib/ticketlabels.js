// Words for a ticket's fields, shared by the console and the portal: the values the
// API sends (status "pending", priority "P2", request type "fault"…) shown translated.
import { formatNumber, hasKey, t } from '../i18n.js';

export const STATUSES = ['new', 'open', 'pending', 'resolved', 'closed'];
export const PRIORITIES = ['P1', 'P2', 'P3', 'P4', 'P5'];
export const REQUEST_TYPES = ['question', 'fault', 'improvement', 'custom_development'];

/** A translated label for a known value (status, origin…), else the value itself. */
export function label(prefix, value) {
  if (value === null || value === undefined || value === '') return '';
  const key = `${prefix}.${value}`;
  return hasKey(key) ? t(key) : String(value);
}

/** "P2 · Critical": the seeds speak of both the number and the word. */
export function priorityLabel(priority) {
  if (priority === null || priority === undefined || priority === '') return '';
  const key = `ticket.priority.${priority}`;
  return hasKey(key) ? t(key) : String(priority);
}

export function statusLabel(status) {
  return label('ticket.status', status);
}

export function requestTypeLabel(type) {
  return label('ticket.request_type', type);
}

/** 1536 → "1.5 KB", in the reader's number format. */
export function formatBytes(size) {
  if (typeof size !== 'number' || !Number.isFinite(size)) return '';
  if (size < 1024) return t('common.bytes', { size: formatNumber(size) });
  const kb = size / 1024;
  if (kb < 1024) return t('common.kilobytes', { size: formatNumber(Math.round(kb * 10) / 10) });
  return t('common.megabytes', { size: formatNumber(Math.round((kb / 1024) * 10) / 10) });
}

/** Split "a@x.org, b@y.org; c@z.org" into trimmed, non-empty, lower-cased addresses. */
export function splitEmails(text) {
  return String(text || '')
    .split(/[\s,;]+/)
    .map((part) => part.trim().toLowerCase())
    .filter(Boolean);
}

/** Loose check, as the server's: something@domain.tld without spaces. */
export function looksLikeEmail(text) {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(String(text || ''));
}
