// Applies what Exotel says about an attempt's call (a status callback, or a Call Details lookup): one code
// path, so both are idempotent in the same way. A final status of the current attempt either schedules a
// redial (busy, no-answer, failed, inside the limits) or settles the call.
import { exotelStatus, istToIso, isFinalStatus, type StatusReport } from '../exotel/inbound.js';
import { start } from '../flows/engine.js';
import { flowNamed } from '../flows/registry.js';
import type { FinalOutcome } from '../flows/types.js';
import { nextCallableTime } from '../jobs/calling-window.js';
import type { CallRecord, NewEvent } from '../store/calls.js';
import { later, type CallDeps } from './deps.js';
import { settle } from './settle.js';

const REDIALLED = new Set(['busy', 'no-answer', 'failed']);

/**
 * The outcome a finished call gets when the conversation itself did not decide one: `no_response` when the
 * vendor answered and heard a question of ours, else `not_reached` (busy, no answer, or a call answered
 * whose flow never reached us: the vendor never heard the order).
 */
export function settledOutcome(status: string, heardQuestion: boolean): FinalOutcome {
  return status === 'completed' && heardQuestion ? 'no_response' : 'not_reached';
}

/**
 * Whether the vendor was ever played a question of ours. ExoML and Voicebot speak every reply; in applet
 * mode only the Gather applet speaks one (`askedTurn`): a Passthru's reply is a branch, never heard.
 */
export function heardQuestion(call: CallRecord): boolean {
  return call.transport === 'applet' ? call.askedTurn !== null : call.lastReply !== null;
}

export function applyStatusReport(
  deps: CallDeps,
  call: CallRecord,
  attempt: number,
  report: StatusReport,
  event: Omit<NewEvent, 'callId'>,
): CallRecord {
  const { store } = deps;
  return store.transaction(() => {
    store.recordEvent({ ...event, callId: call.id });
    if (report.callSid) store.adopt(call.id, report.callSid, attempt);
    const status = report.status;
    if (!status) return store.get(call.id)!;
    const final = isFinalStatus(status);
    const before = store.attemptStatusOf(call.id, attempt);
    const alreadyFinal = before !== null && isFinalStatus(before);
    store.applyAttemptStatus(
      call.id,
      attempt,
      {
        status,
        final,
        durationSeconds: report.durationSeconds ?? report.legs[0]?.onCallDuration,
        recordingUrl: report.recordingUrl,
        endedAt: report.endTime ?? (final ? report.dateUpdated : undefined),
      },
      // After the attempt's final report, a repeat may fill a missing recording, nothing else.
      !alreadyFinal,
      later(deps, deps.config.jobs.reconcileAfterSeconds * 1000),
    );
    const current = store.get(call.id)!;
    // A repeated final report, a late one about an earlier dial, or one about a settled call: nothing more.
    if (!final || alreadyFinal || attempt !== current.currentAttempt || current.settledAt) return current;
    const { redialMaxAttempts, redialDelaySeconds, callingWindow } = deps.config.jobs;
    // Withdrawn while this dial was out: never dialled again.
    if (REDIALLED.has(status) && current.state.outcome === undefined && current.redials < redialMaxAttempts && current.withdrawRequestedAt === null) {
      const wanted = later(deps, redialDelaySeconds * 1000);
      const due = nextCallableTime(wanted, callingWindow);
      store.scheduleRedial(call.id, due, start(flowNamed(call.flow)!, current.state.language).state, due > wanted ? 'calling_window' : null);
      deps.log.info({ call_id: call.id, order_id: call.orderId, status, redial_at: due.toISOString() }, `Vendor ${status}: redial scheduled`);
      return store.get(call.id)!;
    }
    const grace = deps.config.jobs.lateKeysGraceSeconds;
    // Only when the call row took the status: a call queued for a dial retry settles at once, which cancels it.
    // (Not for a withdrawn call: its outcome is decided whatever keys are on the way.)
    if (current.status === 'completed' && current.state.outcome === undefined && current.lastReply?.kind === 'ask' && heardQuestion(current) && grace > 0 && current.withdrawRequestedAt === null) {
      // The vendor hung up with a question open. Keys pressed just before the hang-up reach us on a request
      // of their own (a Gather action, a Passthru with CallType client-hangup, reference §5.1), which may
      // arrive after this report: the call settles a little later (jobs/reconciler.ts), with what they said.
      store.scheduleReconcile(call.id, later(deps, grace * 1000), 0);
      deps.log.info({ call_id: call.id, order_id: call.orderId, grace_seconds: grace }, 'Call ended with a question open: settling shortly, in case its keys are still on the way');
      return store.get(call.id)!;
    }
    settleFinished(deps, call.id, status);
    return store.get(call.id)!;
  });
}

/**
 * Settles a call whose current attempt has its final status: with the conversation's outcome, else what the
 * status says. Must run inside a store transaction.
 */
export function settleFinished(deps: CallDeps, callId: string, status: string): void {
  const { store } = deps;
  const call = store.get(callId)!;
  if (call.settledAt === null && call.state.outcome === undefined && status === 'completed' && !heardQuestion(call) && call.withdrawRequestedAt === null) {
    // Answered, yet Exotel never asked us for the flow's first step: the flow's URL or applets are wrong,
    // or the vendor hung up before it began (reference §13, "endpoint was never hit").
    store.setFailure(callId, 'IVR_ERR_FLOW_NOT_RUN', 'never_asked', 'Exotel says the call was answered, but it never asked us for the first step');
    deps.log.warn({ call_id: callId, order_id: call.orderId, call_sid: call.exotelCallSid }, 'Call completed without asking us for the flow: check the Connect URL or the dashboard flow\'s applets');
  }
  if (!settle(deps, callId, call.state.outcome ?? settledOutcome(status, heardQuestion(call)))) return;
  fillDetailsLater(deps, callId, status);
}

/**
 * A flow call's callback carries no duration by default (reference §1.5): Call Details fills it in a few
 * minutes later (§2), so a lookup is due (jobs/reconciler.ts). For a call just settled on its final status.
 */
export function fillDetailsLater(deps: CallDeps, callId: string, status: string): void {
  if (status === 'completed' && deps.store.get(callId)!.durationSeconds === null) {
    deps.store.scheduleReconcile(callId, later(deps, deps.config.jobs.reconcileBackoffSeconds * 1000), 0);
  }
}

/** A Call Details answer as a status report (reference §2): Duration and Price arrive late; times are IST. */
export function reportFromDetails(details: {
  sid: string;
  status: string;
  duration?: number | undefined;
  recordingUrl?: string | undefined;
  raw: Record<string, unknown>;
}): StatusReport {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    callSid: details.sid,
    status: exotelStatus(details.status),
    recordingUrl: details.recordingUrl,
    durationSeconds: details.duration,
    startTime: istToIso(text(details.raw.StartTime)),
    endTime: istToIso(text(details.raw.EndTime)),
    dateUpdated: istToIso(text(details.raw.DateUpdated)),
    legs: [],
  };
}
