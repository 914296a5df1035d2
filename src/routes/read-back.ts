// Read back what happened: one call by Exotel's CallSid (or our call id), or every call for an order.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { callView, eventsView } from '../api/call-view.js';
import { documented } from '../api/openapi.js';
import type { CallRecord } from '../store/calls.js';

// A CallSid or call id; an order id as the trigger accepts it (printable, at most 64 characters).
export const KEY = /^[\w.:-]{1,64}$/;
// In characters (code points, the `u` flag), as the trigger counts them: an emoji is one.
const ORDER = /^[^\u0000-\u001F\u007F]{1,64}$/u;

/** The call a read or withdraw route names: by Exotel's CallSid, or our call id. */
export function callByKey(app: FastifyInstance, key: string): CallRecord | undefined {
  return app.store.byExotelSid(key) ?? app.store.get(key);
}

/** A call as the API reads it back (api/call-view.ts), from what is stored now. */
export function storedView(app: FastifyInstance, call: CallRecord) {
  return callView(call, app.store.attempts(call.id), app.store.events(call.id), app.outbox.forCall(call.id));
}

/** 404 for a key that names no call. */
export function noCall(reply: FastifyReply, key: string) {
  return reply.code(404).send({ success: false, code: 'IVR_ERR_NOT_FOUND', message: `No call ${key}` });
}

export function badKey(reply: FastifyReply, field: string) {
  return reply.code(400).send({ success: false, code: 'IVR_ERR_VALIDATION', field, message: `${field} must be 1 to 64 printable characters` });
}

export default async function readBackRoutes(app: FastifyInstance): Promise<void> {
  // `?include=events` adds every request Exotel made for the call, with all it sent, in order.
  const callDoc = documented('Read a call back by CallSid or call_id', {
    params: z.object({ call_sid: z.string().regex(KEY) }),
    querystring: { include: { type: 'string', enum: ['events'], description: 'events: every request Exotel made for the call, with what we said and what was pressed' } },
    responses: { 200: 'The call: status, outcome, digits by step, attempts, delivery', 400: 'A malformed key', 401: 'Missing or invalid bearer token', 404: 'No such call' },
  });
  const orderDoc = documented("Read back every call of an order", {
    params: z.object({ order_id: z.string().regex(ORDER) }),
    responses: { 200: 'The calls of the order, oldest first', 400: 'A malformed order id', 401: 'Missing or invalid bearer token' },
  });

  app.get<{ Params: { call_sid: string }; Querystring: { include?: string } }>('/api/calls/:call_sid', callDoc, async (request, reply) => {
    const key = request.params.call_sid;
    if (!KEY.test(key)) return badKey(reply, 'call_sid');
    const call = callByKey(app, key);
    if (!call) return noCall(reply, key);
    const events = request.query.include === 'events' ? { events: eventsView(call, app.store.events(call.id)) } : {};
    return { success: true, call: { ...storedView(app, call), ...events } };
  });

  app.get<{ Params: { order_id: string } }>('/api/orders/:order_id/calls', orderDoc, async (request, reply) => {
    if (!ORDER.test(request.params.order_id)) return badKey(reply, 'order_id');
    const calls = app.store.byOrder(request.params.order_id);
    return { success: true, order_id: request.params.order_id, calls: calls.map((call) => storedView(app, call)) };
  });
}
