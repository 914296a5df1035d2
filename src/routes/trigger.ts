// POST /api/call/<kind> (vendor-order, rider-delivery, …): the backend asks us to phone someone about an order. The call is stored
// first (one live call per order), then dialled at once when the calling window and the rate limit allow
// (200 with Exotel's CallSid), else queued (202 with scheduled_for). Repeats answer the existing call.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { CALL_REQUESTS, type CallRequestKind } from '../api/call-requests.js';
import { documented } from '../api/openapi.js';
import { firstProblem, repeatedField } from '../api/vendor-order-request.js';
import { dialBlockedUntil, dispatch, type DispatchResult } from '../calls/dispatch.js';
import { statusOfExotelError } from '../errors.js';
import { start } from '../flows/engine.js';
import { nextCallableTime } from '../jobs/calling-window.js';
import type { CallRecord, CallStore } from '../store/calls.js';
import { parseUrlencoded, queryOf } from '../urlencoded.js';

const IDEMPOTENCY_WINDOW_MS = 24 * 3_600_000;

export default async function triggerRoutes(app: FastifyInstance): Promise<void> {
  for (const kind of CALL_REQUESTS) {
    const options = documented(`Phone someone about an order (${kind.flow.name})`, {
      body: kind.schema as z.ZodObject,
      headers: { 'idempotency-key': { type: 'string', description: 'your request id: the same key within 24 h answers the same call (the first 200 characters count)' } },
      responses: {
        200: 'Exotel accepted the call (call_sid), or the existing call for this order or Idempotency-Key',
        202: 'The call waits: queued (calling hours, rate limit, vendor busy, retry, a restart under way) or verifying, with scheduled_for',
        400: 'A field is missing or invalid (field names it)',
        401: 'Missing or invalid bearer token',
        403: 'The number is not in DIAL_ALLOWLIST',
        409: 'The order already has a finished call (send recall=true), or its call was withdrawn and its dial has not ended yet',
        415: 'Not JSON, a form or query parameters',
        422: 'The Idempotency-Key was used for another order or kind of call',
        429: 'Too many requests for this token',
        502: 'Exotel refused the call',
      },
    });
    app.post(`/api/call/${kind.path}`, { bodyLimit: 16 * 1024, ...options }, (request, reply) => trigger(app, kind, request, reply));
  }
}

async function trigger(app: FastifyInstance, kind: CallRequestKind, request: FastifyRequest, reply: FastifyReply) {
  // JSON, a form or multipart, or no body at all (query parameters): anything else is refused.
  const json = /^application\/(.+\+)?json\b/i.test(request.headers['content-type'] ?? '');
  // JSON that is not an object (a string, a list) carries no fields: said so, not "vendor_phone is required".
  if (json && request.body !== undefined && (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body))) {
    return invalid(reply, 'body', 'body must be a JSON object of fields');
  }
  if (typeof request.body === 'string' && request.body.length > 0) {
    return reply.code(415).send({ success: false, code: 'IVR_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'Send JSON, a form body or query parameters' });
  }
  const input = apiFields(request);
  const repeated = repeatedField(input, (kind.schema as z.ZodObject).shape);
  if (repeated) return invalid(reply, repeated, `${repeated} must be given once`);
  const parsed = kind.schema.safeParse(input);
  if (!parsed.success) {
    const problem = firstProblem(parsed.error, input);
    return invalid(reply, problem.field, problem.message);
  }
  const wanted = kind.toCall(parsed.data as never);
  const flow = kind.flow;
  const phoneField = kind.phoneField;
  const allowlist = app.config.security.dialAllowlist;
  if (allowlist && !allowlist.some((prefix) => wanted.phone.startsWith(prefix))) {
    return reply.code(403).send({ success: false, code: 'IVR_ERR_NUMBER_NOT_ALLOWED', field: phoneField, message: `${phoneField} is not in DIAL_ALLOWLIST` });
  }
  const keyHeader = request.headers['idempotency-key'];
  const key = typeof keyHeader === 'string' && keyHeader.trim() !== '' ? keyHeader.trim().slice(0, 200) : undefined;
  const store = app.store;

  // An Idempotency-Key seen in the last 24 h, or a live call for the order: answer that call, dial nothing.
  const keyed = key ? store.byIdempotencyKey(key, IDEMPOTENCY_WINDOW_MS) : undefined;
  if (keyed && (keyed.flow !== flow.name || keyed.orderId !== wanted.orderId)) {
    // The same key for another request: a client bug, never a reason to answer with someone else's call.
    return reply.code(422).send({
      success: false,
      code: 'IVR_ERR_IDEMPOTENCY_KEY_REUSED',
      message: 'This Idempotency-Key was used in the last 24 h for another order or kind of call',
    });
  }
  const known = keyed ?? store.liveForOrder(wanted.orderId, flow.name);
  if (known && !keyed && known.withdrawRequestedAt !== null && known.settledAt === null) {
    // The order's call was withdrawn and its dial has not ended: answering that call would swallow this
    // request (it only ever says the apology, and ends withdrawn). One live call per order: ask again after.
    return reply.code(409).send({
      success: false,
      code: 'IVR_ERR_WITHDRAW_PENDING',
      message: `Order ${wanted.orderId}'s call was withdrawn and its dial has not ended yet; send this again with recall=true once that call has settled`,
      order_id: wanted.orderId,
      call_id: known.id,
    });
  }
  if (known) {
    // Bound to the call it was answered with, so a retry after that call ended gets it again, not a new dial.
    if (key && !keyed) store.rememberIdempotencyKey(key, known.id);
    return existing(reply, known, store);
  }
  const last = store.lastForOrder(wanted.orderId, flow.name);
  if (last && !wanted.recall) {
    return reply.code(409).send({
      success: false,
      code: 'IVR_ERR_ALREADY_CALLED',
      message: `Order ${wanted.orderId} already has a finished call (outcome ${last.outcome}); send recall=true to call again`,
      order_id: wanted.orderId,
      call_id: last.id,
    });
  }

  // The language: the request's; else the one this number last chose or was called in; else the default.
  const language = wanted.language ?? store.preferredLanguage(wanted.phone) ?? app.config.defaultLanguage;
  let call: CallRecord;
  try {
    call = store.transaction(() => {
      if (wanted.language) store.setPreferredLanguage(wanted.phone, wanted.language);
      return store.create(
        { flow: flow.name, orderId: wanted.orderId, phone: wanted.phone, language, context: wanted.context, state: start(flow, language).state, transport: app.config.exotel.flowMode },
        dueAt(app),
        key,
      );
    });
  } catch (error) {
    // Two triggers for one order at once: the database keeps one live call; the other answers it.
    const raced = store.liveForOrder(wanted.orderId, flow.name);
    if (raced && (error as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
      if (key) store.rememberIdempotencyKey(key, raced.id);
      return existing(reply, raced, store);
    }
    throw error;
  }
  request.log.info({ call_id: call.id, order_id: call.orderId, flow: flow.name, language }, 'Call requested');
  if (app.shutdown.stopping) {
    // A deploy is under way (jobs/shutdown.ts): stored, and dialled by the next start when due, never now.
    // Outside calling hours it waits for them as any call does (and moves with a changed CALLING_WINDOW).
    const window = dialBlockedUntil(app.callDeps);
    if (window?.reason === 'calling_window') store.reschedule(call.id, window.until, 'calling_window');
    const reason = window?.reason === 'calling_window' ? 'calling_window' : 'restart';
    const queued = store.get(call.id)!;
    return answer(reply, { kind: 'queued', call: queued, scheduledFor: queued.dispatchDueAt!, reason }, store);
  }
  return answer(reply, await dispatch(app.callDeps, call.id), store);
}

// The trigger dials at once itself; the row is due a little later only in case this process dies first,
// so the scheduler never races the trigger for a call it is about to dial.
const INLINE_GRACE_MS = 30_000;

function dueAt(app: FastifyInstance): Date {
  const now = app.callDeps.now();
  const open = nextCallableTime(now, app.config.jobs.callingWindow);
  // Shutting down, this process will not dial it: due as soon as the next start may.
  return open > now || app.shutdown.stopping ? open : new Date(now.getTime() + INLINE_GRACE_MS);
}

function answer(reply: FastifyReply, result: DispatchResult, store: CallStore) {
  const call = result.call!;
  switch (result.kind) {
    case 'placed':
      return reply.send({ success: true, call_sid: result.sid, order_id: call.orderId, call_id: call.id });
    case 'queued':
      return reply.code(202).send({
        success: true,
        status: result.reason === 'verifying' ? 'verifying' : 'queued',
        reason: result.reason,
        scheduled_for: result.scheduledFor,
        order_id: call.orderId,
        call_id: call.id,
        ...(call.failureCode ? { last_error: { code: call.failureCode, message: call.failureMessage } } : {}),
      });
    case 'failed':
      return reply.code(result.error.statusCode ?? 502).send({
        success: false,
        code: result.error.code,
        reason: call.failureReason,
        message: result.error.message,
        order_id: call.orderId,
        call_id: call.id,
      });
    case 'not_due':
      return existing(reply, call, store);
  }
}

const NEVER_PLACED = new Set(['exotel_refused', 'dnd', 'exotel_unavailable']);

/** The answer for a call that already exists: as the trigger that created it would have been answered. */
function existing(reply: FastifyReply, call: CallRecord, store: CallStore) {
  const base = { success: true, existing: true, order_id: call.orderId, call_id: call.id };
  // Exotel refused it for good, or was down until we gave up, and it never rang: the same failure again,
  // not a success a retry trusts. (Not a call withdrawn, or one that rang before a redial failed.)
  const code = call.failureCode;
  if (code !== null && call.status === 'failed' && NEVER_PLACED.has(call.failureReason ?? '') && store.attempts(call.id).every((attempt) => attempt.exotelCallSid === null)) {
    return reply.code(statusOfExotelError(code) ?? 502).send({
      success: false,
      existing: true,
      code,
      reason: call.failureReason,
      message: call.failureMessage,
      order_id: call.orderId,
      call_id: call.id,
    });
  }
  if (call.exotelCallSid) return reply.send({ ...base, call_sid: call.exotelCallSid, status: call.status, outcome: call.outcome });
  if (call.settledAt) return reply.send({ ...base, call_sid: null, status: call.status, outcome: call.outcome });
  return reply.code(202).send({ ...base, status: call.status, scheduled_for: call.dispatchDueAt });
}

export function invalid(reply: FastifyReply, field: string, message: string) {
  return reply.code(400).send({ success: false, code: 'IVR_ERR_VALIDATION', field, message });
}

/**
 * What an API request says, from its query and its body (the body wins): the query decoded as a form body
 * is (urlencoded.ts), so a field that was not UTF-8 is refused the same way whichever way it came.
 */
export function apiFields(request: FastifyRequest): Record<string, unknown> {
  return { ...parseUrlencoded(queryOf(request.url)), ...asObject(request.body) };
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
