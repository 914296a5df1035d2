// POST /api/calls/:call_sid/withdraw: the backend no longer wants a call (its order was cancelled). A call
// that waits to be dialled settles as `withdrawn` at once and is never dialled; one with a dial out is
// marked, and settles `withdrawn` when that dial ends (calls/withdraw.ts). A vendor's answer stands.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { documented } from '../api/openapi.js';
import { firstProblem } from '../api/vendor-order-request.js';
import { withdrawRequest } from '../api/withdraw-request.js';
import { withdraw } from '../calls/withdraw.js';
import { badKey, callByKey, KEY, noCall, storedView } from './read-back.js';
import { apiFields, invalid } from './trigger.js';

export default async function withdrawRoutes(app: FastifyInstance): Promise<void> {
  const options = documented('Withdraw a call: it is never dialled again, and settles as withdrawn (at once if no dial is out)', {
    params: z.object({ call_sid: z.string().regex(KEY) }),
    body: withdrawRequest,
    responses: {
      200: 'Withdrawn (existing: true when it was already): the call, outcome withdrawn',
      400: 'A malformed key or reason',
      401: 'Missing or invalid bearer token',
      404: 'No such call',
      202: 'A dial of the call is out (Exotel may be ringing the vendor): never dialled again; a vendor who answers hears the apology; it settles withdrawn when that dial ends',
      409: 'The call settled with another outcome, or the vendor has answered already (IVR_ERR_ALREADY_SETTLED)',
    },
  });

  app.post<{ Params: { call_sid: string } }>('/api/calls/:call_sid/withdraw', { bodyLimit: 4 * 1024, ...options }, async (request, reply) => {
    const key = request.params.call_sid;
    if (!KEY.test(key)) return badKey(reply, 'call_sid');
    // As the trigger takes its fields: JSON, a form, or query parameters.
    const input = apiFields(request);
    const parsed = withdrawRequest.safeParse(input);
    if (!parsed.success) {
      const problem = firstProblem(parsed.error, input);
      return invalid(reply, problem.field, problem.message);
    }
    const found = callByKey(app, key);
    if (!found) return noCall(reply, key);
    const reason = parsed.data.reason || undefined;
    const result = withdraw(app.callDeps, found, reason);
    const { call } = result;
    const context = { call_id: call.id, order_id: call.orderId, status: call.status, outcome: call.outcome };
    switch (result.kind) {
      case 'withdrawn':
        request.log.info({ ...context, reason }, 'Call withdrawn by the backend: it will not be dialled');
        return { success: true, call: storedView(app, call) };
      case 'already_withdrawn':
        return { success: true, existing: true, call: storedView(app, call) };
      case 'settled': {
        // Settled, or the vendor has answered already (the call settles with that when it ends).
        const outcome = call.settledAt !== null ? call.outcome : call.state.outcome;
        return reply.code(409).send({
          success: false,
          code: 'IVR_ERR_ALREADY_SETTLED',
          message:
            call.settledAt !== null
              ? `Call ${call.id} is settled already (outcome ${outcome}): nothing to withdraw`
              : `The vendor has answered call ${call.id} already (outcome ${outcome}): it stands, and is sent when the call ends`,
          call_id: call.id,
          outcome,
        });
      }
      case 'requested':
        if (!result.again) request.log.info({ ...context, reason }, 'Withdraw requested while a dial is out: never dialled again; it settles withdrawn when this dial ends');
        return reply.code(202).send({ success: true, withdraw_requested: true, ...(result.again ? { existing: true } : {}), call: storedView(app, call) });
    }
  });
}
