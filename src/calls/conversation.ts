// One step of a call's conversation, whatever the transport: find where the call stands, apply what the
// vendor did exactly once, store it with the reply, and hand the reply to the transport to render. A
// request Exotel repeats (a retry, a duplicate) gets the reply it got the first time and changes nothing.
import { isFinalStatus } from '../exotel/inbound.js';
import { advance, start } from '../flows/engine.js';
import type { EngineOptions, Flow, FlowState, Input, Reply } from '../flows/types.js';
import type { CallRecord, CallStore } from '../store/calls.js';

export interface TurnRequest {
  /** `undefined` for a request that asks rather than answers (the greeting, a Gather applet's fetch). */
  input: Input | undefined;
  /**
   * The step and turn the request answers. ExoML mode carries both in our signed URL; applet mode has no
   * per-turn URL, so it answers the turn whose question Exotel fetched last (`calls.asked_turn`).
   */
  step?: string | undefined;
  turn?: number | undefined;
  /** Applet mode: this request fetches the question, so one answer to it may follow. */
  asks?: boolean;
  route: string;
  params: Record<string, string>;
  /** Exotel's CallSid, adopted when the Connect answer has not been stored yet. */
  exotelCallSid?: string | undefined;
}

export interface TurnResult {
  reply: Reply;
  state: FlowState;
  /** False when the request was a repeat (or came after the end) and changed nothing. */
  applied: boolean;
}

export function takeTurn(store: CallStore, flow: Flow, call: CallRecord, request: TurnRequest, options: EngineOptions = {}): TurnResult {
  // A bare # has no digits to store (its params keep the press).
  const digits = request.input?.kind === 'digits' ? request.input.digits.slice(0, 32) || undefined : undefined;
  const event = {
    callId: call.id,
    kind: 'exotel_request',
    route: request.route,
    step: call.state.step,
    digits,
    params: request.params,
  };
  const stored = call.lastReply;
  const stale =
    call.state.outcome !== undefined ||
    call.settledAt !== null ||
    (request.input === undefined
      ? stored !== null
      : (request.step !== undefined && request.step !== call.state.step) || (request.turn !== undefined && request.turn !== call.state.turn));
  // A request that changes nothing is kept under the step it answered (an older turn's URL), not the call's.
  const late = { ...event, step: request.step ?? event.step };
  const afterSettled = settledApology(flow, call);
  if (afterSettled) {
    store.recordReplay({ ...late, kind: 'exotel_request_after_settled' }, request.exotelCallSid);
    return { reply: afterSettled, state: call.state, applied: false };
  }
  // Withdrawn by the backend while this dial was out (calls/withdraw.ts): whatever this request is, even a
  // repeat that would replay the question, the vendor hears the apology, never the order again.
  const withdrawn = withdrawing(call);
  if (!withdrawn && stale && stored !== null) {
    const askedTurn = request.asks && !call.state.outcome ? call.state.turn : undefined;
    store.recordReplay({ ...late, kind: 'exotel_request_replayed' }, request.exotelCallSid, askedTurn);
    return { reply: stored, state: call.state, applied: false };
  }
  // Exotel's final status came first: the vendor has hung up (calls/status.ts waits for these late keys).
  // Their keys still count, but nobody is on the line to hand to an agent: no transfer.
  const hungUp = isFinalStatus(call.status);
  const engine = hungUp ? { ...options, agentKey: undefined } : options;
  const next = withdrawn
      ? withdrawnEnding(flow, call.state)
      : request.input === undefined
        ? start(flow, call.state.language)
        : advance(flow, call.state, request.input, engine);
  store.transaction(() => {
    // Its keys are kept, as the kind that changed nothing: never read as the vendor's answer (api/call-view.ts).
    store.saveTurn(withdrawn ? { ...event, kind: 'exotel_request_after_withdraw' } : event, next.state, next.reply, request.exotelCallSid, request.asks ? next.state.turn : undefined);
    // The caller chose another language: it is this number's language from now on (not a 9 pressed as they hung up).
    if (next.state.language !== call.state.language && !hungUp) store.setPreferredLanguage(call.phone, next.state.language);
  });
  return { reply: next.reply, state: next.state, applied: true };
}

/**
 * The backend withdrew the call while its dial was out (calls/withdraw.ts): the vendor who answers, or who
 * answers the question they were hearing, must not take on a cancelled order. They hear the apology, their
 * keys change nothing, and the call settles withdrawn when it ends.
 */
function withdrawnEnding(flow: Flow, state: FlowState): { state: FlowState; reply: Reply } {
  return { state: { ...state, outcome: 'withdrawn' }, reply: { kind: 'end', outcome: 'withdrawn', say: [flow.apology] } };
}

/** Marked withdrawn while its dial was out, and not yet ended: every request of it gets the apology. */
function withdrawing(call: CallRecord): boolean {
  return call.withdrawRequestedAt !== null && call.state.outcome === undefined;
}

/**
 * What a request that takes no turn (a HEAD probe) says of this call, as a GET would: the apology once it is
 * settled or withdrawn. Undefined while a question may still be asked.
 */
export function endingWithoutTurn(flow: Flow, call: CallRecord): Reply | undefined {
  return settledApology(flow, call) ?? (withdrawing(call) ? withdrawnEnding(flow, call.state).reply : undefined);
}

/** What the log says of a turn's input: ops count "Vendor pressed" lines, the same in every transport. */
export function pressedMessage(input: Input): string {
  if (input.kind === 'no_input') return 'Vendor pressed nothing';
  return `Vendor pressed: ${input.digits || '#'}`;
}

/**
 * The outcome is given (we told the backend not_reached, or Exotel's final status came first), yet Exotel
 * is still asking: the vendor must not be asked a question whose answer no longer counts. They hear the
 * apology ("we will contact you again") and the call ends. Undefined while a question may still be asked.
 */
export function settledApology(flow: Flow, call: CallRecord): Reply | undefined {
  if (call.settledAt === null || (call.lastReply !== null && call.lastReply.kind !== 'ask')) return undefined;
  return { kind: 'end', outcome: call.outcome === 'pending' ? 'not_reached' : call.outcome, say: [flow.apology] };
}
