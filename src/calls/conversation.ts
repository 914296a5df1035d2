// One step of a call's conversation, whatever the transport: find where the call stands, apply what the
// vendor did exactly once, store it with what we answer, and answer. A request Exotel repeats (a retry,
// a duplicate) gets the answer it got the first time, so no input is ever applied twice.
import { advance, start } from '../flows/engine.js';
import type { Flow, FlowState, Input, Reply } from '../flows/types.js';
import type { CallRecord, CallStore } from '../store/calls.js';

export interface TurnRequest {
  /** `undefined` for the call's first request (the greeting): it asks, it does not answer. */
  input: Input | undefined;
  /** The step and turn the request answers, from our signed URL; absent when the transport cannot carry them. */
  step?: string | undefined;
  turn?: number | undefined;
  route: string;
  params: Record<string, string>;
  /** Exotel's CallSid, adopted when the Connect answer has not been stored yet. */
  exotelCallSid?: string | undefined;
}

export type Render = (reply: Reply, state: FlowState) => string;

export interface TurnResult {
  document: string;
  state: FlowState;
  reply: Reply | undefined;
  /** False when the request was a repeat (or came after the end) and changed nothing. */
  applied: boolean;
}

export function takeTurn(store: CallStore, flow: Flow, call: CallRecord, request: TurnRequest, render: Render): TurnResult {
  const digits = request.input?.kind === 'digits' ? request.input.digits.slice(0, 32) : undefined;
  const event = {
    callId: call.id,
    kind: 'exotel_request',
    route: request.route,
    step: request.step ?? call.state.step,
    digits,
    params: request.params,
  };
  const stale =
    call.state.outcome !== undefined ||
    (request.input === undefined ? call.lastReply !== null : (request.step !== undefined && request.step !== call.state.step) ||
      (request.turn !== undefined && request.turn !== call.state.turn));
  if (stale && call.lastReply !== null) {
    store.recordEvent({ ...event, kind: 'exotel_request_replayed' });
    return { document: call.lastReply, state: call.state, reply: undefined, applied: false };
  }
  const next = request.input === undefined ? start(flow) : advance(flow, call.state, request.input);
  const document = render(next.reply, next.state);
  store.saveTurn(event, next.state, document, request.exotelCallSid);
  return { document, state: next.state, reply: next.reply, applied: true };
}
