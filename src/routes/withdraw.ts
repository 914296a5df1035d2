// POST /api/calls/:call_sid/withdraw: the backend no longer wants a call that still waits to be dialled
// (its order was cancelled at night, before 09:00's dial). The call settles as `withdrawn` and is never
// dialled; a call being dialled or on the line is refused, since Exotel may be ringing the vendor already.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { documented } from '../api/openapi.js';
import { firstProblem } from '../api/vendor-order-request.js';
import { withdrawRequest } from '../api/withdraw-request.js';
import { withdraw } from '../calls/withdraw.js';
import { isFinalStatus } from '../exotel/inbound.js';
import { badKey, callByKey, KEY, noCall, storedView } from './read-back.js';
import { asObject, invalid } from './trigger.js';

export default async function withdrawRoutes(app: FastifyInstance): Promise<void> {
  const options = documented('Withdraw a call that waits to be dialled: it settles as withdrawn and is never dialled', {
    params: z.object({ call_sid: z.string().regex(KEY) }),
    body: withdrawRequest,
    responses: {
      200: 'Withdrawn (existing: true when it was already): the call, outcome withdrawn',
      400: 'A malformed key or reason',
      401: 'Missing or invalid bearer token',
      404: 'No such call',
      409: 'The call is being dialled or is on the line (IVR_ERR_CALL_IN_PROGRESS), or settled with another outcome (IVR_ERR_ALREADY_SETTLED)',
    },
  });

  app.post<{ Params: { call_sid: string } }>('/api/calls/:call_sid/withdraw', { bodyLimit: 4 * 1024, ...options }, async (request, reply) => {
    const key = request.params.call_sid;
    if (!KEY.test(key)) return badKey(reply, 'call_sid');
    // As the trigger takes its fields: JSON, a form, or query parameters.
    const input = { ...asObject(request.query), ...asObject(request.body) };
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
      case 'settled':
        return reply.code(409).send({
          success: false,
          code: 'IVR_ERR_ALREADY_SETTLED',
          message: `Call ${call.id} is settled already (outcome ${call.outcome}): nothing to withdraw`,
          call_id: call.id,
          outcome: call.outcome,
        });
      case 'in_progress': {
        // Ended, not settled yet: the late keys' grace (calls/status.ts). Its outcome follows within seconds.
        const ended = isFinalStatus(call.status);
        request.log.warn(context, ended ? 'Withdraw refused: the call has ended, its outcome is being settled' : 'Withdraw refused: the call is being dialled or is on the line');
        return reply.code(409).send({
          success: false,
          code: 'IVR_ERR_CALL_IN_PROGRESS',
          message: ended
            ? `Call ${call.id} has ended (status ${call.status}) and its outcome is being settled: it cannot be withdrawn; the outcome follows shortly`
            : `Call ${call.id} is being dialled or is on the line (status ${call.status}): Exotel may be ringing the vendor, so it cannot be withdrawn; its outcome will follow`,
          call_id: call.id,
          status: call.status,
        });
      }
    }
  });
}
