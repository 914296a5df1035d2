// A call as the backend and ops read it back: one shape for every read route (and, later, the outcome the
// backend is sent), built from the call row, its attempts and its event log.
import { pressedAnyKey } from '../exotel/inbound.js';
import { replyPrompts, replyText, type PromptContext } from '../flows/prompts.js';
import { flowNamed } from '../flows/registry.js';
import type { Flow } from '../flows/types.js';
import type { AttemptRecord, CallRecord, EventRecord, Said } from '../store/calls.js';
import type { OutboxRecord } from '../store/outbox.js';

export interface DigitsAtStep { step: string; digits: string; at: string }

export function callView(call: CallRecord, attempts: AttemptRecord[], events: EventRecord[], deliveries: OutboxRecord[]) {
  return {
    call_id: call.id,
    call_sid: call.exotelCallSid,
    order_id: call.orderId,
    flow: call.flow,
    // The language the call is spoken in now (the caller may have switched it).
    language: call.state.language ?? call.language,
    vendor_phone: call.phone,
    status: call.status,
    outcome: call.outcome,
    prep_time_minutes: call.prepTimeMinutes,
    // Every number the conversation took, by name (prep_time_minutes, delay_minutes, …).
    values: call.state.values,
    agent_status: call.agentStatus,
    digits: digitsByStep(events),
    duration: call.durationSeconds,
    recording_url: call.recordingUrl,
    failure: call.failureCode ? { code: call.failureCode, reason: call.failureReason, message: call.failureMessage } : null,
    attempts: attempts.map((attempt) => ({
      attempt: attempt.number,
      call_sid: attempt.exotelCallSid,
      result: attempt.result,
      status: attempt.status,
      duration: attempt.durationSeconds,
      error: attempt.errorCode ? { code: attempt.errorCode, message: attempt.errorMessage } : null,
      requested_at: attempt.requestedAt,
      answered_at: attempt.answeredAt,
      ended_at: attempt.endedAt,
    })),
    redials: call.redials,
    scheduled_for: call.dispatchDueAt,
    delivery: deliveries.map(deliveryView)[0] ?? null,
    created_at: call.createdAt,
    updated_at: call.updatedAt,
    ended_at: call.endedAt,
    settled_at: call.settledAt,
    // The backend withdrew it while a dial was out: it settles withdrawn when that dial ends.
    withdraw_requested_at: call.withdrawRequestedAt,
  };
}

// A request that changed nothing, told apart from one that counted (its keys may still be shown).
const EVENT_NOTES: Record<string, string> = {
  exotel_request_replayed: 'a repeat: changed nothing',
  exotel_probe: 'a HEAD probe: changed nothing',
  exotel_request_after_settled: 'after the call was settled: the apology, changed nothing',
  exotel_request_after_withdraw: 'after the backend withdrew the call: the apology, changed nothing',
};

/**
 * The event log as ops and the API read it: for each request that took a turn, the words we answered with
 * (the question asked, or the closing), as the vendor heard them; null for the rest. `pressed`: the keys as
 * the vendor pressed them, `#` for a bare # (which has no digits to count). `note`: why a request changed
 * nothing (a repeat, a probe, after the call settled), else null.
 */
export function eventsView(call: CallRecord, events: EventRecord[]) {
  const flow = flowNamed(call.flow);
  const context = { ...call.context, ...call.state.values };
  return events.map((event) => ({
    ...event,
    pressed: event.digits ?? (event.said && pressedAnyKey(event.params) ? '#' : null),
    said: event.said && flow ? words(flow, event.said, context) : null,
    note: EVENT_NOTES[event.kind] ?? null,
  }));
}

function words(flow: Flow, said: Said, context: PromptContext): string {
  try {
    return replyText(flow, said.language, said.reply, context);
  } catch {
    // A prompt this build no longer has (the flow changed since): its names, not a broken page.
    return replyPrompts(said.reply).join(' ');
  }
}

/**
 * Whether the backend has an outcome: pending (due), delivered, dead (gave up or superseded; see the logs),
 * or not_configured (no OUTCOME_WEBHOOK_URL when it settled: stored, never sent).
 */
export function deliveryView(item: OutboxRecord) {
  return {
    event_id: item.eventId,
    state: item.deliveredAt ? 'delivered' : item.deadAt ? 'dead' : item.dueAt ? 'pending' : 'not_configured',
    tries: item.tries,
    last_error: item.lastError,
    delivered_at: item.deliveredAt,
    dead_at: item.deadAt,
  };
}

/** The keys pressed at each step, in order; repeats that changed nothing are left out. */
export function digitsByStep(events: EventRecord[]): DigitsAtStep[] {
  return events
    .filter((event) => event.kind === 'exotel_request' && event.digits !== null && event.step !== null)
    .map((event) => ({ step: event.step!, digits: event.digits!, at: event.at }));
}
