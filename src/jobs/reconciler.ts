// A call with no final status some time after it was placed is looked up with Call Details (Exotel's
// callbacks "may be delayed or have failures", reference §3.1), on a backoff for about 15 minutes (Duration
// and Price are filled late, §2). What it finds is applied exactly like a status callback. A call settled
// without a duration (a flow call's callback has none, §1.5) is looked up the same way until Call Details
// has it: only the duration and the recording are still to come then. A call that ended with a question
// open is settled here once the grace for its late keys is over.
import { applyStatusReport, heardQuestion, reportFromDetails, settleFinished } from '../calls/status.js';
import { exotelParams, isFinalStatus } from '../exotel/inbound.js';
import { settle } from '../calls/settle.js';
import { later, type CallDeps } from '../calls/deps.js';
import { lookupBlockedUntil, pauseAfterRateLimit } from '../calls/dispatch.js';
import { listedCallFor } from '../calls/verify.js';
import { isExotelError } from '../errors.js';
import type { CallRecord } from '../store/calls.js';

// Lookups after the first: +1, +2, +4, +8 backoff units (about 15 minutes at the default 60 s).
const MAX_TRIES = 5;

export async function reconcile(deps: CallDeps, call: CallRecord): Promise<void> {
  const { store, log } = deps;
  const filling = call.settledAt !== null;
  if (!filling && isFinalStatus(call.status)) {
    // The final status is known and the grace for late keys is over (calls/status.ts): settle, no lookup.
    store.transaction(() => settleFinished(deps, call.id, call.status));
    return;
  }
  // Calling hours do not hold back a lookup; the rate limit and a 429 pause do. A duration only fills in a
  // read-back, so it takes no more than half of the per-minute allowance: dials and lookups for calls
  // still open keep the rest.
  const blocked = lookupBlockedUntil(deps, filling ? 0.5 : 1);
  if (blocked) return void store.scheduleReconcile(call.id, blocked, call.reconcileTries);
  const sid = call.exotelCallSid;
  const attempt = call.currentAttempt;
  if (!attempt || (filling && (!sid || call.durationSeconds !== null))) return void store.scheduleReconcile(call.id, null, call.reconcileTries);
  const tries = call.reconcileTries + 1;
  // Claim the lookup first: the next one is due after this backoff unless the answer settles the call (or,
  // for a settled call, after the last try nothing more is asked).
  const next = filling && tries >= MAX_TRIES ? null : later(deps, deps.config.jobs.reconcileBackoffSeconds * 1000 * 2 ** Math.min(tries - 1, 6));
  store.scheduleReconcile(call.id, next, tries);
  if (!sid) return findBySearch(deps, call, attempt, tries);
  deps.ledger.record('details');
  try {
    const details = await deps.exotel.callDetails(sid);
    const updated = applyStatusReport(deps, call, attempt, reportFromDetails(details), {
      kind: filling ? 'details_lookup' : 'reconcile_lookup',
      route: 'GET Calls/{sid}.json',
      params: exotelParams(details.raw, undefined),
    });
    if (filling) {
      const filled = updated.durationSeconds !== null;
      if (filled) store.scheduleReconcile(call.id, null, tries);
      log.info({ call_id: call.id, order_id: call.orderId, call_sid: sid, duration: updated.durationSeconds, tries }, filled ? 'Duration filled from Call Details' : 'Call Details has no duration yet');
      deps.metrics.reconcileLookup(filled ? 'filled' : 'no_duration_yet');
      return;
    }
    log.info({ call_id: call.id, order_id: call.orderId, call_sid: sid, status: updated.status, tries }, 'Reconciled with Call Details');
    deps.metrics.reconcileLookup(updated.settledAt ? 'settled' : 'pending');
    if (tries >= MAX_TRIES) giveUp(deps, call.id, attempt);
  } catch (error) {
    if (!isExotelError(error)) throw error;
    pauseAfterRateLimit(deps, error, tries);
    deps.metrics.reconcileLookup(error.code);
    if (filling && (error as { httpStatus?: number }).httpStatus === 404) {
      // A settled call Exotel says it does not have (after a restart, the embedded simulator has forgotten
      // its calls): asking again cannot bring the duration, and the outcome went long ago.
      store.scheduleReconcile(call.id, null, tries);
      log.warn({ call_id: call.id, call_sid: sid, err_code: error.code }, 'Call Details does not know this call: its duration stays unknown');
      return;
    }
    log.error({ call_id: call.id, call_sid: sid, err_code: error.code, tries }, `Exotel API error while reconciling: ${error.message}`);
    if (!filling && tries >= MAX_TRIES) giveUp(deps, call.id, attempt);
  }
}

/**
 * A live call whose CallSid never reached us (Exotel's report said it rings or is answered, with CallSid
 * missing or "None", reference §13, and the Connect answer was lost): found in the Calls list and adopted,
 * so the next lookup can ask Call Details. Never dialled again: a report proved this attempt placed a call.
 */
async function findBySearch(deps: CallDeps, call: CallRecord, attempt: number, tries: number): Promise<void> {
  const { store, log } = deps;
  const requestedAt = store.attempts(call.id).find((a) => a.number === attempt)?.requestedAt;
  try {
    const match = requestedAt ? await listedCallFor(deps, call, { number: attempt, requestedAt }) : undefined;
    if (match) {
      store.adopt(call.id, match.sid, attempt);
      log.warn({ call_id: call.id, order_id: call.orderId, call_sid: match.sid, attempt, tries }, 'A live call without a CallSid: found in the Calls list, adopted');
      deps.metrics.reconcileLookup('adopted');
      return;
    }
    log.warn({ call_id: call.id, order_id: call.orderId, attempt, tries }, 'A live call without a CallSid: not in the Calls list yet');
    deps.metrics.reconcileLookup('not_listed');
  } catch (error) {
    if (!isExotelError(error)) throw error;
    pauseAfterRateLimit(deps, error, tries);
    deps.metrics.reconcileLookup(error.code);
    log.error({ call_id: call.id, err_code: error.code, tries }, `Exotel API error while looking for a call without a CallSid: ${error.message}`);
  }
  if (tries >= MAX_TRIES) giveUp(deps, call.id, attempt);
}

/**
 * Exotel never told us how the call ended: settle with what we know, and say so. Not while the same dial
 * may still be on the line (younger than ring time + TimeLimit), nor when something else moved the call on.
 */
function giveUp(deps: CallDeps, callId: string, attempt: number): void {
  const call = deps.store.get(callId);
  // A final status is known (its settling waits for late keys, calls/status.ts): Exotel did tell us.
  if (!call || call.settledAt || call.currentAttempt !== attempt || !call.reconcileDueAt || isFinalStatus(call.status)) return;
  const placedAt = deps.store.attempts(callId).find((a) => a.number === attempt)?.requestedAt;
  const mayBeLive = (deps.config.exotel.ringTimeoutSeconds + deps.config.exotel.timeLimitSeconds) * 1000;
  if (placedAt && deps.now().getTime() - new Date(placedAt).getTime() < mayBeLive) return;
  // Answered (the flow asked a question) and no answer from the vendor: no_response; never answered:
  // not_reached. The status alone cannot tell: Connect answers in-progress before anyone picks up (§1.6).
  const outcome = call.state.outcome ?? (heardQuestion(call) ? 'no_response' : 'not_reached');
  deps.store.transaction(() => {
    deps.store.scheduleReconcile(call.id, null, call.reconcileTries);
    deps.store.setFailure(call.id, 'EXOTEL_ERR_NO_FINAL_STATUS', 'no_final_status', 'Exotel gave no final status for this call');
    settle(deps, call.id, outcome);
  });
  deps.log.error({ call_id: call.id, order_id: call.orderId, call_sid: call.exotelCallSid }, 'No final status from Exotel after reconciling: settled with what we know');
}
