// POST /webhook/exotel/status: how a call ended (reference §3). Multipart (Exotel's default), urlencoded or
// JSON. Stored before we answer; applied idempotently; 200 once stored, so Exotel stops retrying.
import type { FastifyInstance } from 'fastify';
import { applyStatusReport } from '../calls/status.js';
import { exotelParams, statusReport } from '../exotel/inbound.js';
import { maskPhone } from '../logging.js';

export default async function statusWebhookRoutes(app: FastifyInstance): Promise<void> {
  app.post('/webhook/exotel/status', async (request, reply) => {
    const query = (request.query ?? {}) as Record<string, unknown>;
    const check = app.links.check('/webhook/exotel/status', query);
    if (check !== 'ok') {
      request.log.warn({ check }, 'status callback refused: URL signature missing, invalid or expired');
      return reply.code(403).send({ success: false, code: 'IVR_ERR_BAD_SIGNATURE', message: 'Missing or invalid URL signature' });
    }
    const params = exotelParams(query, request.body);
    // Stored before answered, in a group commit shared with the requests of the same moment.
    return app.store.grouped(() => {
      const report = statusReport(params);
      const callId = typeof query.call === 'string' ? query.call : undefined;
      const call =
        (callId && app.store.get(callId)) ||
        app.store.byExotelRequest(report.callSid, report.customField);
      const event = { kind: 'status_callback', route: '/webhook/exotel/status', params };
      // Which dial of the call this is about: from our URL, else from the CallSid, else the current one.
      const attemptParam = typeof query.attempt === 'string' && /^\d{1,3}$/.test(query.attempt) ? Number(query.attempt) : undefined;
      const attempt = attemptParam ?? (report.callSid && app.store.attemptNumberOf(report.callSid)) ?? call?.currentAttempt ?? undefined;
      if (!call || !attempt) {
        // Kept, never dropped: ops can match it later by CallSid.
        app.store.recordEvent({ ...event, callId: null });
        request.log.warn({ call_sid: report.callSid, status: report.status }, 'status callback for an unknown call (stored)');
        return { success: true, matched: false };
      }
      const updated = applyStatusReport(app.callDeps, call, attempt, report, event);
      request.log.info(
        { call_id: call.id, call_sid: updated.exotelCallSid, order_id: call.orderId, status: updated.status, outcome: updated.outcome, phone: maskPhone(call.phone) },
        `Call status: ${report.status ?? 'unknown'}`,
      );
      return { success: true, matched: true };
    });
  });
}
