// Dials a queued call when the calling window and the rate limit allow, and sorts out what Exotel answered:
// placed; not placed (refused, 5xx, 429: dial again after a backoff); unknown (a timeout after sending: ask
// Exotel before anything else, never re-dial blindly, DESIGN §5); or refused for good (4xx, DND).
import { AMBIGUOUS_CONNECT_ERRORS, isExotelError, type ExotelError } from '../errors.js';
import { dashboardFlowUrl, type RestFailure } from '../exotel/client.js';
import { flowNamed } from '../flows/registry.js';
import { nextCallableTime } from '../jobs/calling-window.js';
import { maskPhone } from '../logging.js';
import type { CallRecord } from '../store/calls.js';
import { backoffMs, later, type CallDeps } from './deps.js';
import { settle } from './settle.js';

export type DispatchResult =
  | { kind: 'placed'; call: CallRecord; sid: string }
  | { kind: 'queued'; call: CallRecord; scheduledFor: string; reason: 'calling_window' | 'rate_limit' | 'vendor_busy' | 'retry' | 'verifying' | 'restart' }
  | { kind: 'failed'; call: CallRecord; error: ExotelError }
  | { kind: 'not_due'; call: CallRecord | undefined };

/**
 * Where a lookup (Calls list, Call Details) must wait: only the rate limit and a 429 pause hold it back.
 * `share`: the part of the per-minute allowance the lookup may use (less for work that can wait).
 */
export function lookupBlockedUntil(deps: CallDeps, share = 1): Date | undefined {
  return deps.ledger.nextSlot(Math.max(1, Math.floor(deps.config.jobs.callsPerMinute * share)), deps.now());
}

/** Where the call must wait before it may be dialled (calling hours, then the rate limit), or undefined. */
export function dialBlockedUntil(deps: CallDeps): { until: Date; reason: 'calling_window' | 'rate_limit' } | undefined {
  const now = deps.now();
  const open = nextCallableTime(now, deps.config.jobs.callingWindow);
  if (open > now) return { until: open, reason: 'calling_window' };
  const slot = deps.ledger.nextSlot(deps.config.jobs.callsPerMinute, now);
  return slot ? { until: slot, reason: 'rate_limit' } : undefined;
}

/** A 429 from any request to Exotel holds every request back (its Retry-After, else our backoff). */
export function pauseAfterRateLimit(deps: CallDeps, error: { code: string }, tries: number): Date | undefined {
  if (error.code !== 'EXOTEL_ERR_RATE_LIMITED') return undefined;
  const retryAfter = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
  const until = later(deps, retryAfter !== undefined ? retryAfter * 1000 : backoffMs(deps, tries));
  deps.ledger.pauseUntil(until);
  return until;
}

// One call at a time to a vendor: a second order waits for the first call to end. It also keeps the
// Calls-list check after an ambiguous Connect unambiguous (one call of ours per number in flight).
const VENDOR_BUSY_RETRY_MS = 15_000;
// A dial we could not confirm (given up on unverified, or not shown by the Calls list) may ring and be answered: that long, at most.
const maybeOnTheLineMs = (deps: CallDeps) => (deps.config.exotel.ringTimeoutSeconds + deps.config.exotel.timeLimitSeconds) * 1000;

export async function dispatch(deps: CallDeps, callId: string): Promise<DispatchResult> {
  const { store, log } = deps;
  const waiting = store.get(callId);
  const blocked =
    dialBlockedUntil(deps) ??
    (waiting && store.vendorInFlight(waiting.phone, callId, later(deps, -maybeOnTheLineMs(deps)))
      ? { until: later(deps, VENDOR_BUSY_RETRY_MS), reason: 'vendor_busy' as const }
      : undefined);
  if (blocked) {
    store.reschedule(callId, blocked.until, blocked.reason === 'rate_limit' ? 'unchanged' : blocked.reason);
    const call = store.get(callId)!;
    return { kind: 'queued', call, scheduledFor: blocked.until.toISOString(), reason: blocked.reason };
  }
  const attempt = store.claimForDial(callId, () => deps.ledger.record('connect'));
  if (attempt === undefined) return { kind: 'not_due', call: store.get(callId) };
  const call = store.get(callId)!;
  const context = { call_id: call.id, order_id: call.orderId, attempt, phone: maskPhone(call.phone) };
  try {
    const placed = await deps.exotel.connect({
      from: call.phone,
      url: flowUrl(deps, call),
      statusCallback: deps.links.statusCallback(call.id, attempt),
      customField: call.id,
      ringTimeoutSeconds: deps.config.exotel.ringTimeoutSeconds,
      timeLimitSeconds: deps.config.exotel.timeLimitSeconds,
    });
    store.attemptPlaced(call.id, attempt, placed.sid, placed.status, later(deps, deps.config.jobs.reconcileAfterSeconds * 1000));
    deps.metrics.connectResult('placed');
    log.info({ ...context, call_sid: placed.sid }, 'Call initiated');
    return { kind: 'placed', call: store.get(call.id)!, sid: placed.sid };
  } catch (error) {
    if (!isExotelError(error)) throw error;
    log.error({ ...context, err_code: error.code, http_status: (error as Partial<RestFailure>).httpStatus }, `Exotel API error: ${error.message}`);
    deps.metrics.connectResult(error.code);
    return afterFailure(deps, call, attempt, error);
  }
}

function afterFailure(deps: CallDeps, call: CallRecord, attempt: number, error: ExotelError): DispatchResult {
  const { store } = deps;
  // Exotel reported on this attempt while its Connect was out (a busy callback with CallSid None, §13), and
  // its redial has been claimed since: this answer is about a dial that is over. Kept on its attempt only.
  const now = store.get(call.id);
  if (now && now.currentAttempt !== attempt) {
    store.attemptAnswerLate(call.id, attempt, error.code, error.message);
    deps.log.warn({ call_id: call.id, order_id: call.orderId, attempt, err_code: error.code }, 'Connect failed after its redial was claimed: nothing changed');
    return { kind: 'not_due', call: now };
  }
  // Exotel's own requests for this attempt (the flow, a callback) may have reached us while the Connect
  // answer did not: the CallSid they carried proves the call was placed.
  const adopted = store.attempts(call.id).find((a) => a.number === attempt)?.exotelCallSid;
  if (adopted) {
    store.attemptPlaced(call.id, attempt, adopted, 'in-progress', later(deps, deps.config.jobs.reconcileAfterSeconds * 1000));
    deps.log.warn({ call_id: call.id, order_id: call.orderId, call_sid: adopted, attempt }, 'Connect failed to answer, but the call exists: adopted');
    return { kind: 'placed', call: store.get(call.id)!, sid: adopted };
  }
  if (AMBIGUOUS_CONNECT_ERRORS.includes(error.code)) {
    // The vendor's phone may be ringing. Find out before anything else, even with the retries used up:
    // verify.ts gives up only once Exotel says no call was placed, or cannot say.
    const at = later(deps, backoffMs(deps, 0));
    store.attemptUnknown(call.id, attempt, error.code, error.message, at);
    return { kind: 'queued', call: store.get(call.id)!, scheduledFor: at.toISOString(), reason: 'verifying' };
  }
  switch (error.code) {
    case 'EXOTEL_ERR_UNREACHABLE':
    case 'EXOTEL_ERR_RATE_LIMITED': {
      // A 429 holds every request back, whatever becomes of this call.
      const pause = pauseAfterRateLimit(deps, error, call.dispatchRetries);
      // Withdrawn while this Connect was out: nothing rang, and nothing will.
      if (now?.withdrawRequestedAt) return giveUp(deps, call, attempt, error, 'withdrawn');
      if (call.dispatchRetries >= deps.config.jobs.dispatchMaxRetries) return giveUp(deps, call, attempt, error, 'exotel_unavailable');
      let at = later(deps, backoffMs(deps, call.dispatchRetries));
      if (pause && pause > at) at = pause;
      store.attemptNotPlaced(call.id, attempt, error.code, error.message, at);
      return { kind: 'queued', call: store.get(call.id)!, scheduledFor: at.toISOString(), reason: 'retry' };
    }
    default: {
      const rest = error as Partial<RestFailure>;
      // DND: Exotel refuses numbers on the NDNC registry with a 403 (reference §1.7, §8).
      const dnd = rest.httpStatus === 403 && /NDNC|\bDND\b/i.test(rest.exotelMessage ?? '');
      return giveUp(deps, call, attempt, error, dnd ? 'dnd' : 'exotel_refused');
    }
  }
}

function giveUp(deps: CallDeps, call: CallRecord, attempt: number, error: ExotelError, reason: string): DispatchResult {
  deps.store.transaction(() => {
    deps.store.attemptFailed(call.id, attempt, error.code, error.message, reason);
    settle(deps, call.id, 'not_reached');
  });
  return { kind: 'failed', call: deps.store.get(call.id)!, error };
}

function flowUrl(deps: CallDeps, call: CallRecord): string {
  // Applet and voicebot calls run the dashboard flow; its applets (or its stream) call us.
  if (call.transport !== 'exoml') return dashboardFlowUrl(deps.config.exotel.accountSid, deps.config.exotel.appId);
  return deps.links.exomlStep(flowNamed(call.flow)!.startSlug, { call: call.id });
}
