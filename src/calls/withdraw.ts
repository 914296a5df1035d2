// The backend withdraws a call it no longer wants (the order was cancelled). A call nobody is dialling (one
// queued, or one whose final status came) settles `withdrawn` at once. Once a Connect request has left, Exotel may be ringing the vendor and nothing
// of ours can stop that: such a call is marked instead, and from then on it is never dialled again (no
// redial after busy, no retry after an unclear Connect), a vendor who answers hears the apology rather than
// the order, and it settles `withdrawn` when that dial ends. Either way through the one settle path, so the
// backend hears exactly one outcome for it.
import { isFinalStatus } from '../exotel/inbound.js';
import type { CallRecord } from '../store/calls.js';
import type { CallDeps } from './deps.js';
import { settle } from './settle.js';
import { fillDetailsLater } from './status.js';

export type WithdrawResult =
  | { kind: 'withdrawn'; call: CallRecord }
  /** Withdrawn before (a repeated request): nothing changes. */
  | { kind: 'already_withdrawn'; call: CallRecord }
  /** A dial is out: marked, it settles withdrawn when that dial ends (`again`: marked before). */
  | { kind: 'requested'; call: CallRecord; again: boolean }
  /** Settled with another outcome, or the vendor has answered already (it settles when the call ends): it stands. */
  | { kind: 'settled'; call: CallRecord };

const NOT_CHOSEN = new Set(['no_response', 'not_reached', 'withdrawn']);

export function withdraw(deps: CallDeps, call: CallRecord, reason: string | undefined): WithdrawResult {
  const { store } = deps;
  const params: Record<string, string> = reason === undefined ? {} : { reason };
  // One transaction, and no await: the scheduler's claim of this call (same database) comes before or after.
  const result = store.transaction((): { kind: WithdrawResult['kind']; again?: boolean } => {
    const now = store.get(call.id)!;
    if (now.settledAt !== null) return { kind: now.outcome === 'withdrawn' ? 'already_withdrawn' : 'settled' };
    // The vendor's own answer stands; an ending the vendor did not choose (silence: no_response) does not.
    if (now.state.outcome !== undefined && !NOT_CHOSEN.has(now.state.outcome)) return { kind: 'settled' };
    // Queued, or ended (its final status came; the outcome waits a few seconds for late keys): no dial is out.
    if (now.status !== 'queued' && !isFinalStatus(now.status)) {
      const first = store.requestWithdraw(call.id);
      if (first) store.recordEvent({ callId: call.id, kind: 'withdraw_requested', route: '/api/calls/withdraw', params });
      return { kind: 'requested', again: !first };
    }
    store.recordEvent({ callId: call.id, kind: 'withdrawn', route: '/api/calls/withdraw', params });
    // Ended in its late keys' grace: the duration and recording are still to be looked up, as for any call.
    if (settle(deps, call.id, 'withdrawn')) fillDetailsLater(deps, call.id, now.status);
    return { kind: 'withdrawn' };
  });
  return { ...result, call: store.get(call.id)! } as WithdrawResult;
}
