// The backend withdraws a call it no longer wants (the order was cancelled while its call waited for calling
// hours, a redial or a busy vendor). Only a call nobody is dialling can be withdrawn: once a Connect request
// has left, Exotel may be ringing the vendor and nothing of ours can stop that. A withdrawn call settles as
// `withdrawn` through the one settle path, so the backend still hears exactly one outcome for it.
import type { CallRecord } from '../store/calls.js';
import type { CallDeps } from './deps.js';
import { settle } from './settle.js';

export type WithdrawResult =
  | { kind: 'withdrawn'; call: CallRecord }
  /** Withdrawn before (a repeated request): nothing changes. */
  | { kind: 'already_withdrawn'; call: CallRecord }
  /** Settled with another outcome: it stands. */
  | { kind: 'settled'; call: CallRecord }
  /** Being dialled, looked up after an unclear Connect, or on the line: it may ring, so it goes on. Or just ended, its outcome being settled. */
  | { kind: 'in_progress'; call: CallRecord };

export function withdraw(deps: CallDeps, call: CallRecord, reason: string | undefined): WithdrawResult {
  const { store } = deps;
  // One transaction, and no await: the scheduler's claim of this call (same database) comes before or after.
  const kind = store.transaction((): WithdrawResult['kind'] => {
    const now = store.get(call.id)!;
    if (now.settledAt !== null) return now.outcome === 'withdrawn' ? 'already_withdrawn' : 'settled';
    if (now.status !== 'queued') return 'in_progress';
    store.recordEvent({ callId: call.id, kind: 'withdrawn', route: '/api/calls/withdraw', params: reason === undefined ? {} : { reason } });
    settle(deps, call.id, 'withdrawn');
    return 'withdrawn';
  });
  return { kind, call: store.get(call.id)! } as WithdrawResult;
}
