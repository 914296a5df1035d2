// GET /metrics: Prometheus text format, behind the API token like the rest of our API (or, with
// METRICS_PORT, on a separate loopback listener without a token: server.ts).
import type { FastifyInstance } from 'fastify';

export default async function metricsRoute(app: FastifyInstance): Promise<void> {
  app.get('/metrics', async (_request, reply) => {
    const text = await app.metrics.registry.metrics();
    return reply.header('content-type', app.metrics.registry.contentType).send(text);
  });
}
