// Delivers settled outcomes to the backend: POST JSON to OUTCOME_WEBHOOK_URL, signed with HMAC-SHA256 over
// "<timestamp>.<body>", retried with backoff until a 2xx (at least once; the backend dedupes on event_id).
// A delivery still failing after OUTCOME_MAX_AGE_HOURS is marked dead and logged, never dropped silently.
// A refusal (store/outbox.ts, REFUSED_STATUSES) is retried too, but holds back no later outcome of its order.
import { createHmac } from 'node:crypto';
import { request } from 'undici';
import { backoffMs, later, type CallDeps } from '../calls/deps.js';
import { retryAfter } from '../retry-after.js';
import { httpFailure, type OutboxRecord } from '../store/outbox.js';

const MAX_RETRY_AFTER_SECONDS = 3600;

export const SIGNATURE_HEADER = 'x-exotel-caller-signature';
export const TIMESTAMP_HEADER = 'x-exotel-caller-timestamp';
export const EVENT_ID_HEADER = 'x-exotel-caller-event-id';

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
  let waitSeconds: number | undefined;
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
    problem = httpFailure(response.statusCode);
    // A backend that says when to come back (429, 503) is not asked before then; at most an hour, so a
    // mistaken header cannot park an outcome.
    if (response.statusCode === 429 || response.statusCode === 503) waitSeconds = retryAfter(response.headers['retry-after'], deps.now().getTime());
  } catch (error) {
    problem = (error as { code?: string }).code ?? (error as Error).message;
  }
  // Counted from when it was made, or from when ops last sent it again (outbox retry): a revived outcome gets
  // a whole window of retries, not one try.
  const age = deps.now().getTime() - new Date(item.retriedAt ?? item.createdAt).getTime();
  if (age >= maxAgeHours * 3_600_000) {
    deps.outbox.dead(item.eventId, problem);
    deps.log.error({ event_id: item.eventId, call_id: item.callId, tries: item.tries + 1, error: problem }, 'Outcome delivery dead: gave up after OUTCOME_MAX_AGE_HOURS');
    return;
  }
  deps.outbox.failed(item.eventId, problem, later(deps, Math.max(backoffMs(deps, item.tries), Math.min(waitSeconds ?? 0, MAX_RETRY_AFTER_SECONDS) * 1000)));
  deps.log.warn({ event_id: item.eventId, call_id: item.callId, tries: item.tries + 1, error: problem }, 'Outcome delivery failed; will retry');
}
