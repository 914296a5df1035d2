// Places one Connect attempt for a stored call and records what Exotel answered. The attempt row is written
// before the request leaves, so a crash in between shows as an attempt with no answer, never as nothing.
import type { FastifyBaseLogger } from 'fastify';
import { isExotelError, type ExotelError } from '../errors.js';
import type { ExotelClient } from '../exotel/client.js';
import type { Links } from '../links.js';
import { maskPhone } from '../logging.js';
import type { CallRecord, CallStore } from '../store/calls.js';

export interface DialDeps {
  store: CallStore;
  exotel: ExotelClient;
  links: Links;
  log: FastifyBaseLogger;
  /** The Url Exotel runs for this call: our greeting (ExoML mode). */
  flowUrl: (call: CallRecord) => string;
  ringTimeoutSeconds: number;
  timeLimitSeconds: number;
}

export type DialResult = { placed: true; sid: string; call: CallRecord } | { placed: false; error: ExotelError; call: CallRecord };

export async function dial(deps: DialDeps, call: CallRecord): Promise<DialResult> {
  const { store, log } = deps;
  const attempt = store.beginAttempt(call.id);
  const context = { call_id: call.id, order_id: call.orderId, attempt, phone: maskPhone(call.phone) };
  try {
    const placed = await deps.exotel.connect({
      from: call.phone,
      url: deps.flowUrl(call),
      statusCallback: deps.links.statusCallback(call.id),
      customField: call.id,
      ringTimeoutSeconds: deps.ringTimeoutSeconds,
      timeLimitSeconds: deps.timeLimitSeconds,
    });
    store.attemptPlaced(call.id, attempt, placed.sid, placed.status);
    log.info({ ...context, call_sid: placed.sid }, 'Call initiated');
    return { placed: true, sid: placed.sid, call: store.get(call.id)! };
  } catch (error) {
    if (!isExotelError(error)) throw error;
    // A timeout after sending is ambiguous: the vendor's phone may be ringing. Never call it failed.
    const result = error.code === 'EXOTEL_ERR_TIMEOUT' ? 'unknown' : 'failed';
    store.attemptFailed(call.id, attempt, result, error.code, error.message);
    log.error({ ...context, err_code: error.code, http_status: (error as { httpStatus?: number }).httpStatus }, `Exotel API error: ${error.message}`);
    return { placed: false, error, call: store.get(call.id)! };
  }
}
