// The ordering backend's stand-in: receives outcomes on loopback, checks their signature as the README
// tells the backend to, dedupes on event_id, and can be down for a while.
import { createHmac, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';

export interface Backend {
  url: string;
  /** Every delivery attempt that reached the backend, in order. */
  received: Array<{ eventId: string; body: Record<string, unknown>; signatureValid: boolean; answered: number }>;
  /** Outcomes by event_id, first delivery kept: what the backend acted on. */
  outcomes: Map<string, Record<string, unknown>>;
  /** Answers 503 while true. */
  down: boolean;
  /** Answers 503 (or the status it gives) to the outcomes this picks, while set. */
  refuse: ((body: Record<string, unknown>) => boolean | number) | undefined;
  /** Holds the answer to the outcomes this picks for that many ms, while set. */
  slow: ((body: Record<string, unknown>) => number) | undefined;
  /** Sent as Retry-After with every answer that is not a 2xx, while set. */
  retryAfter: string | undefined;
  close(): Promise<void>;
}

export async function startBackend(secret: string): Promise<Backend> {
  const app: FastifyInstance = Fastify({ logger: false });
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_r, body, done) => done(null, body));
  const backend: Backend = { url: '', received: [], outcomes: new Map(), down: false, refuse: undefined, slow: undefined, retryAfter: undefined, close: () => app.close() };
  app.post('/outcomes', async (request, reply) => {
    const raw = request.body as string;
    const timestamp = String(request.headers['x-exotel-caller-timestamp'] ?? '');
    const given = String(request.headers['x-exotel-caller-signature'] ?? '');
    // The README's verification: HMAC-SHA256 over "<timestamp>.<raw body>", compared in constant time.
    const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex')}`;
    const signatureValid = given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
    const body = JSON.parse(raw) as Record<string, unknown>;
    const hold = backend.slow?.(body) ?? 0;
    if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold));
    const refused = backend.refuse?.(body);
    const answered = backend.down ? 503 : typeof refused === 'number' ? refused : refused ? 503 : signatureValid ? 200 : 401;
    backend.received.push({ eventId: String(body.event_id), body, signatureValid, answered });
    if (answered === 200 && !backend.outcomes.has(String(body.event_id))) backend.outcomes.set(String(body.event_id), body);
    if (answered !== 200 && backend.retryAfter !== undefined) reply.header('retry-after', backend.retryAfter);
    return reply.code(answered).send({ ok: answered === 200 });
  });
  backend.url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/outcomes`;
  return backend;
}
