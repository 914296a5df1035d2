// What an operator knows about a call, read as they type it: on /ops and in `exotel-caller calls show`.
import { normalisePhone } from '../phone.js';
import type { CallRecord, CallStore } from '../store/calls.js';

/** The most calls a search by number lists (newest first); `truncated` says when there were more. */
export const FOUND_LIMIT = 50;

export interface Found {
  calls: CallRecord[];
  truncated: boolean;
}

/**
 * Our call id or Exotel's CallSid; else an order id; else the vendor's number, whole in any form Exotel or a
 * person writes it (+91…, 0…, with spaces) or its last 3 to 10 digits.
 */
export function findCalls(store: CallStore, q: string): Found {
  const direct = store.get(q) ?? store.byExotelSid(q);
  if (direct) return { calls: [direct], truncated: false };
  const byOrder = store.byOrder(q);
  if (byOrder.length > 0) return { calls: byOrder, truncated: false };
  const whole = normalisePhone(q);
  const digits = whole ? whole.slice(3) : q.replace(/[\s\-().]/g, '');
  if (!/^\d{3,10}$/.test(digits)) return { calls: [], truncated: false };
  const calls = store.byPhoneEnding(digits, FOUND_LIMIT + 1);
  return { calls: calls.slice(0, FOUND_LIMIT), truncated: calls.length > FOUND_LIMIT };
}
