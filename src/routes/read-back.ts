// Read back what happened: one call by Exotel's CallSid (or our call id), or every call for an order.
import type { FastifyInstance } from 'fastify';
import { callView } from '../api/call-view.js';
import type { CallRecord } from '../store/calls.js';

export default async function readBackRoutes(app: FastifyInstance): Promise<void> {
  const view = (call: CallRecord) => callView(call, app.store.attempts(call.id), app.store.events(call.id), app.outbox.forCall(call.id));

  // `?include=events` adds every request Exotel made for the call, with all it sent, in order.
  app.get<{ Params: { call_sid: string }; Querystring: { include?: string } }>('/api/calls/:call_sid', async (request, reply) => {
    const key = request.params.call_sid;
    const call = app.store.byExotelSid(key) ?? app.store.get(key);
    if (!call) return reply.code(404).send({ success: false, code: 'IVR_ERR_NOT_FOUND', message: `No call ${key}` });
    const events = request.query.include === 'events' ? { events: app.store.events(call.id) } : {};
    return { success: true, call: { ...view(call), ...events } };
  });

  app.get<{ Params: { order_id: string } }>('/api/orders/:order_id/calls', async (request) => {
    const calls = app.store.byOrder(request.params.order_id);
    return { success: true, order_id: request.params.order_id, calls: calls.map(view) };
  });
}
