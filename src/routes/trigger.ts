// POST /api/call/vendor-order: the backend asks us to phone a vendor about an order. We store the call
// before dialing, place it through Exotel and answer with Exotel's CallSid.
import type { FastifyInstance } from 'fastify';
import { firstProblem, vendorOrderRequest } from '../api/vendor-order-request.js';
import { dial } from '../calls/dial.js';
import { dashboardFlowUrl } from '../exotel/client.js';
import { start } from '../flows/engine.js';
import { vendorOrder } from '../flows/vendor-order.js';

export default async function triggerRoutes(app: FastifyInstance): Promise<void> {
  app.post('/api/call/vendor-order', async (request, reply) => {
    const input = { ...asObject(request.query), ...asObject(request.body) };
    const parsed = vendorOrderRequest.safeParse(input);
    if (!parsed.success) {
      const problem = firstProblem(parsed.error, input);
      return reply.code(400).send({ success: false, code: 'IVR_ERR_VALIDATION', field: problem.field, message: problem.message });
    }
    const order = parsed.data;
    const call = app.store.create({
      flow: vendorOrder.name,
      orderId: order.order_id,
      phone: order.vendor_phone,
      language: order.language,
      context: { vendor_name: order.vendor_name, order_id: order.order_id, order_amount: order.order_amount, items: order.items },
      state: start(vendorOrder).state,
      transport: app.config.exotel.flowMode,
    });
    const result = await dial(
      {
        store: app.store,
        exotel: app.exotel,
        links: app.links,
        log: request.log,
        flowUrl: (stored) =>
          stored.transport === 'applet'
            ? dashboardFlowUrl(app.config.exotel.accountSid, app.config.exotel.appId)
            : app.links.exomlStep(vendorOrder.startSlug, { call: stored.id }),
        ringTimeoutSeconds: app.config.exotel.ringTimeoutSeconds,
        timeLimitSeconds: app.config.exotel.timeLimitSeconds,
      },
      call,
    );
    if (result.placed) return { success: true, call_sid: result.sid, order_id: call.orderId, call_id: call.id };
    const error = result.error;
    return reply.code(error.statusCode ?? 502).send({
      success: false,
      code: error.code,
      message: error.message,
      order_id: call.orderId,
      call_id: call.id,
    });
  });
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
