// Applies what Exotel says about a call's progress (a status callback, or later a Call Details lookup):
// one code path, so both are idempotent in the same way.
import { isFinalStatus, type StatusReport } from '../exotel/inbound.js';
import type { FinalOutcome } from '../flows/types.js';
import type { CallRecord, CallStore, NewEvent } from '../store/calls.js';

/** The outcome a finished call gets when the conversation itself did not decide one. */
export function settledOutcome(status: string): FinalOutcome {
  return status === 'completed' ? 'no_response' : 'not_reached';
}

export function applyStatusReport(
  store: CallStore,
  call: CallRecord,
  report: StatusReport,
  event: Omit<NewEvent, 'callId'>,
): CallRecord {
  const status = report.status ?? call.status;
  const final = isFinalStatus(status);
  return store.applyStatus(
    { ...event, callId: call.id },
    {
      status,
      final,
      durationSeconds: report.durationSeconds ?? report.legs[0]?.onCallDuration,
      recordingUrl: report.recordingUrl,
      endedAt: report.endTime ?? (final ? report.dateUpdated : undefined),
      exotelCallSid: report.callSid,
    },
    settledOutcome(status),
  );
}
