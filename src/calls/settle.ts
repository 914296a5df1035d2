// A call's final outcome: marked on the call and written to the outbox in the same transaction, so the
// backend hears of every outcome, exactly as stored, even across a crash.
import { callView, digitsByStep } from '../api/call-view.js';
import type { Outcome } from '../flows/types.js';
import type { CallDeps } from './deps.js';

/** Must run inside a store transaction. A call settles once; later calls change nothing (false). */
export function settle(deps: CallDeps, callId: string, decided: Exclude<Outcome, 'pending'>): boolean {
  const { store, outbox } = deps;
  // Withdrawn by the backend while its dial was out (calls/withdraw.ts): whatever ended that dial (busy, no
  // answer, the apology heard, a lookup that gave up), the backend asked for this call to end withdrawn.
  const outcome = store.get(callId)?.withdrawRequestedAt ? 'withdrawn' : decided;
  if (!store.markSettled(callId, outcome)) return false;
  const call = store.get(callId)!;
  const attempts = store.attempts(callId);
  const view = callView(call, attempts, [], []);
  const eventId = `outcome_${callId}`;
  const payload = {
    event_id: eventId,
    order_id: call.orderId,
    call_id: call.id,
    call_sid: call.exotelCallSid,
    flow: call.flow,
    outcome,
    prep_time_minutes: call.prepTimeMinutes,
    values: call.state.values,
    agent_status: call.agentStatus,
    language: call.state.language,
    status: call.status,
    duration: call.durationSeconds,
    recording_url: call.recordingUrl,
    attempts: attempts.filter((a) => a.result === 'placed' || a.result === 'adopted').length,
    digits: digitsByStep(store.events(callId)).map(({ step, digits }) => ({ step, digits })),
    failure: view.failure,
    settled_at: call.settledAt,
  };
  outbox.add(eventId, callId, payload, deps.config.outcome.webhookUrl ? deps.now() : null);
  deps.metrics.callSettled(call.flow, outcome);
  deps.log.info({ call_id: callId, order_id: call.orderId, call_sid: call.exotelCallSid, outcome, status: call.status }, `Call settled: ${outcome}`);
  return true;
}
