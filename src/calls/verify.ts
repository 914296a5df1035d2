// After an ambiguous Connect (a timeout or a 5xx after sending, or a crash while waiting), ask Exotel
// whether the call exists before dialing again: the bulk Calls list, filtered by the vendor's number and a
// DateCreated window around the attempt (reference §2). Found: adopt it. Not found: dial again. Exotel
// cannot say: ask again later, never dial blindly; after DISPATCH_MAX_RETRIES lookups, give up and say so.
import type { ExotelCall } from '../exotel/client.js';
import type { CallRecord } from '../store/calls.js';
import { isExotelError } from '../errors.js';
import { normalisePhone, sameNumber } from '../phone.js';
import { backoffMs, later, type CallDeps } from './deps.js';
import { lookupBlockedUntil, pauseAfterRateLimit } from './dispatch.js';
import { settle } from './settle.js';
import { exotelParams, istToIso } from '../exotel/inbound.js';
import { applyStatusReport, reportFromDetails } from './status.js';

// How far around the attempt's request time a call counts as that attempt's (clock skew, slow answers).
// Only one call of ours to a number is in flight at a time (dispatch.ts), so our calls in that window are
// listed in the order we placed them (listedCallFor).
const SKEW_MS = 60_000;

/**
 * A listed call can be this attempt's only if we placed it: an API call from our caller ID. The vendor ringing
 * us back after a missed call is listed with the same From (inbound), and so is a dial from the dashboard
 * (outbound-dial); adopting either would settle the order on a call that never asked about it.
 */
function placedByUs(listed: ExotelCall, callerId: string): boolean {
  const field = (name: string) => (typeof listed.raw[name] === 'string' && listed.raw[name] !== '' ? (listed.raw[name] as string) : undefined);
  const direction = field('Direction')?.toLowerCase();
  if (direction !== undefined && direction !== 'outbound-api') return false;
  const line = field('PhoneNumberSid');
  return line === undefined || sameNumber(line, callerId);
}

/**
 * The call Exotel's Calls list shows for this attempt, if any: placed by us, to this vendor, around the
 * attempt's request time, and not another attempt's (a sid we know already).
 *
 * Our dials to a vendor go one at a time, so the list shows them in the order we placed them. An earlier dial
 * in the window whose CallSid never reached us (its callback said CallSid None, reference §13) is listed as
 * an unknown sid too: this attempt's call is the one after all of those. Fewer listed: not listed yet.
 */
export async function listedCallFor(deps: CallDeps, call: CallRecord, attempt: { number: number; requestedAt: string }): Promise<ExotelCall | undefined> {
  const requested = new Date(attempt.requestedAt).getTime();
  const unnamed = deps.store
    .unnamedDialsBefore(call.phone, new Date(requested - LOOK_BACK_MS), { callId: call.id, number: attempt.number })
    .map((at) => at.getTime());
  const from = windowStart(unnamed, requested);
  deps.ledger.record('list');
  const listed = await deps.exotel.listCalls({
    from: call.phone,
    createdFrom: new Date(from),
    createdTo: new Date(Math.max(deps.now().getTime(), requested) + SKEW_MS),
  });
  const unknown = listed
    .filter((c) => normalisePhone(c.from ?? '') === call.phone && placedByUs(c, deps.config.exotel.callerId) && !deps.store.byExotelSid(c.sid))
    .sort((a, b) => createdAt(a) - createdAt(b));
  return unknown[unnamed.filter((at) => at >= from).length];
}

// Exotel's clock is not ours, and its list filters whole seconds: an earlier dial near the window's start
// could be listed and not counted, or counted and not listed. The window starts where none is that near.
const EDGE_MS = 15_000;
// How far back a chain of such dials is looked for.
const LOOK_BACK_MS = 60 * 60_000;

/** Where the lookup's window starts: SKEW_MS before the request, moved back past any unnamed dial (newest first) near it. */
export function windowStart(unnamedNewestFirst: number[], requested: number): number {
  let start = requested - SKEW_MS;
  for (const at of unnamedNewestFirst) {
    if (at >= start + EDGE_MS) continue;
    if (at < start - EDGE_MS) break;
    start = at - EDGE_MS - 1;
  }
  return start;
}

// Exotel's DateCreated (IST wall clock, reference §2) as a number that orders; none readable keeps the list's order.
const createdAt = (listed: ExotelCall): number => Date.parse(istToIso(listed.dateCreated) ?? '') || 0;

export async function verify(deps: CallDeps, callId: string): Promise<void> {
  const { store, log } = deps;
  // Calling hours do not hold back a lookup; only the rate limit does.
  const blocked = lookupBlockedUntil(deps);
  if (blocked) return void store.reschedule(callId, blocked, 'unchanged');
  if (!store.claimForVerify(callId)) return;
  const call = store.get(callId)!;
  const attempt = store.attempts(callId).find((a) => a.number === call.currentAttempt);
  if (!attempt) return;
  // Exotel's own requests may already have told us the CallSid: nothing to look up.
  if (provenMeanwhile(deps, callId, attempt.number)) return;
  try {
    const match = await listedCallFor(deps, call, attempt);
    // Exotel's own request (a greeting, a callback) may have brought the CallSid while we asked: then the
    // call exists, whatever the list says, and nothing below may end it.
    if (provenMeanwhile(deps, callId, attempt.number) || movedOnMeanwhile(deps, callId, attempt.number)) return;
    if (match) {
      // Adopted, and looked up at once. What the list says is applied as a callback would be: a call that
      // already ended busy is redialled, one completed with a question open waits for its late keys.
      store.transaction(() => {
        store.attemptPlaced(callId, attempt.number, match.sid, 'in-progress', deps.now(), 'adopted');
        applyStatusReport(deps, store.get(callId)!, attempt.number, reportFromDetails(match), {
          kind: 'calls_list_lookup',
          route: 'GET Calls.json',
          params: exotelParams(match.raw, undefined),
        });
      });
      log.warn({ call_id: callId, order_id: call.orderId, call_sid: match.sid, attempt: attempt.number }, 'Ambiguous Connect: the call exists, adopted');
      return;
    }
    const code = attempt.errorCode ?? 'EXOTEL_ERR_TIMEOUT';
    if (store.get(callId)!.withdrawRequestedAt) {
      // Withdrawn while its Connect was out, and no call came of it: it ends here, never dialled again.
      store.transaction(() => {
        store.attemptFailed(callId, attempt.number, code, 'Exotel has no such call, and the backend withdrew it', 'withdrawn', 'not_placed');
        settle(deps, callId, 'withdrawn');
      });
      log.info({ call_id: callId, order_id: call.orderId, attempt: attempt.number }, 'Ambiguous Connect: no call was placed, and the call was withdrawn: not dialled again');
      return;
    }
    if (call.dispatchRetries >= deps.config.jobs.dispatchMaxRetries) {
      // Known now not to ring: with the retries used up, the call ends here (and never before this check).
      store.transaction(() => {
        store.attemptFailed(callId, attempt.number, code, 'Exotel has no such call, and the Connect retries are used up', 'exotel_unavailable', 'not_placed');
        settle(deps, callId, 'not_reached');
      });
      log.error({ call_id: callId, order_id: call.orderId, attempt: attempt.number }, 'Ambiguous Connect: no call was placed and the retries are used up');
      return;
    }
    store.attemptNotPlaced(callId, attempt.number, code, 'Exotel has no such call: dialing again', deps.now());
    log.warn({ call_id: callId, order_id: call.orderId, attempt: attempt.number }, 'Ambiguous Connect: no call was placed, dialing again');
  } catch (error) {
    if (!isExotelError(error)) throw error;
    if (provenMeanwhile(deps, callId, attempt.number) || movedOnMeanwhile(deps, callId, attempt.number)) return;
    // Lookups have a budget of their own: the dial retries may be used up, and the call must still be checked.
    const tries = call.verifyTries + 1;
    log.error({ call_id: callId, order_id: call.orderId, err_code: error.code, tries }, `Exotel API error while verifying an ambiguous Connect: ${error.message}`);
    const refused = error.code === 'EXOTEL_ERR_REST';
    if (refused || tries > deps.config.jobs.dispatchMaxRetries) {
      // We cannot learn whether the vendor was rung, so we will not ring again. A status callback for the
      // attempt, if one comes, is still stored.
      store.transaction(() => {
        store.failCall(callId, error.code, 'unverified', `Could not learn from Exotel whether the call was placed: ${error.message}`);
        settle(deps, callId, 'not_reached');
      });
      return;
    }
    const pause = pauseAfterRateLimit(deps, error, tries);
    const at = later(deps, backoffMs(deps, tries));
    store.transaction(() => {
      store.setFailure(callId, error.code, 'verifying', error.message);
      store.countVerifyTry(callId, pause && pause > at ? pause : at);
    });
  }
}

/** The attempt's CallSid reached us on Exotel's own request (before or during the lookup): the call exists; adopt it. */
function provenMeanwhile(deps: CallDeps, callId: string, number: number): boolean {
  const sid = deps.store.attempts(callId).find((a) => a.number === number)?.exotelCallSid;
  if (!sid) return false;
  deps.store.attemptPlaced(callId, number, sid, 'in-progress', deps.now(), 'adopted');
  deps.log.warn({ call_id: callId, attempt: number, call_sid: sid }, 'Ambiguous Connect: Exotel sent the CallSid itself, adopted');
  return true;
}

/**
 * A status report for the attempt came while we asked, without a CallSid (Exotel's busy callback can carry
 * CallSid None, reference §13): it proved the dial and was applied (a redial scheduled, a grace for late
 * keys, or settled). A list that lags must not undo that.
 */
function movedOnMeanwhile(deps: CallDeps, callId: string, number: number): boolean {
  const now = deps.store.get(callId);
  if (now && now.status === 'verifying' && now.currentAttempt === number && now.settledAt === null) return false;
  deps.log.warn({ call_id: callId, attempt: number, status: now?.status }, 'Ambiguous Connect: Exotel reported on the call while we looked it up; its report stands');
  return true;
}
