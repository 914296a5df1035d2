// Delivers settled outcomes to the backend: POST JSON to OUTCOME_WEBHOOK_URL, signed with HMAC-SHA256 over
// "<timestamp>.<body>", retried with backoff until a 2xx (at least once; the backend dedupes on event_id).
// A delivery still failing after OUTCOME_MAX_AGE_HOURS, or refused (400, 409, 410, 422), is marked dead and
// logged, never dropped silently.
import { createHmac } from 'node:crypto';
import { request } from 'undici';
import { backoffMs, later, type CallDeps } from '../calls/deps.js';
import type { OutboxRecord } from '../store/outbox.js';

export const SIGNATURE_HEADER = 'x-exotel-caller-signature';
export const TIMESTAMP_HEADER = 'x-exotel-caller-timestamp';
export const EVENT_ID_HEADER = 'x-exotel-caller-event-id';
// Answers that say the backend will not take this outcome, however often it is sent (not an outage, a
// wrong URL or a wrong secret, which are retried).
const REFUSED = new Set([400, 409, 410, 422]);

/** `sha256=<hex>` over `${timestamp}.${body}`: what the backend recomputes to trust a delivery. */
export function outcomeSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export async function deliver(deps: CallDeps, item: OutboxRecord): Promise<void> {
  const { webhookUrl, webhookSecret, maxAgeHours } = deps.config.outcome;
  if (!webhookUrl) return;
  const body = JSON.stringify(item.payload);
  const timestamp = String(Math.floor(deps.now().getTime() / 1000));
  const headers: Record<string, string> = { 'content-type': 'application/json', [TIMESTAMP_HEADER]: timestamp, [EVENT_ID_HEADER]: item.eventId };
  if (webhookSecret) headers[SIGNATURE_HEADER] = outcomeSignature(webhookSecret, timestamp, body);
  let problem: string;
  let refused = false;
  // The outcome the backend hears must be one that is on disk (an open group commit holds recent ones).
  deps.store.group.flush();
  try {
    const response = await request(webhookUrl, { method: 'POST', headers, body, headersTimeout: 10_000, bodyTimeout: 10_000 });
    await response.body.dump();
    if (response.statusCode >= 200 && response.statusCode < 300) {
      deps.outbox.delivered(item.eventId);
      deps.log.info({ event_id: item.eventId, call_id: item.callId, tries: item.tries + 1 }, 'Outcome delivered to the backend');
      return;
    }
    problem = `HTTP ${response.statusCode}`;
    refused = REFUSED.has(response.statusCode);
  } catch (error) {
    problem = (error as { code?: string }).code ?? (error as Error).message;
  }
  if (refused) {
    // Retrying an outcome the backend says it will never take would only hold back its order's later ones.
    deps.outbox.dead(item.eventId, problem);
    deps.log.error({ event_id: item.eventId, call_id: item.callId, tries: item.tries + 1, error: problem }, 'Outcome delivery dead: the backend refused it (outbox retry sends it again)');
    return;
  }
  const age = deps.now().getTime() - new Date(item.createdAt).getTime();
  if (age >= maxAgeHours * 3_600_000) {
    deps.outbox.dead(item.eventId, problem);
    deps.log.error({ event_id: item.eventId, call_id: item.callId, tries: item.tries + 1, error: problem }, 'Outcome delivery dead: gave up after OUTCOME_MAX_AGE_HOURS');
    return;
  }
  deps.outbox.failed(item.eventId, problem, later(deps, backoffMs(deps, item.tries)));
  deps.log.warn({ event_id: item.eventId, call_id: item.callId, tries: item.tries + 1, error: problem }, 'Outcome delivery failed; will retry');
}
