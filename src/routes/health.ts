// GET /health: for systemd, Docker's HEALTHCHECK and load balancers. Healthy only if the database answers.
// `exotel` says whether calls ring real phones (`live`) or stay on this machine (`simulator`: the built-in
// one, or an Exotel API on loopback, as tests and the benchmark run it); the CLI's `simulate` asks.
import type { FastifyInstance } from 'fastify';
import { version } from '../version.js';

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  const { mode, apiBaseUrl } = app.config.exotel;
  const exotel = mode === 'simulator' || isLoopback(new URL(apiBaseUrl).hostname) ? 'simulator' : 'live';
  app.get('/health', async (request, reply) => {
    try {
      app.db.prepare('SELECT COUNT(*) FROM calls').get();
    } catch (error) {
      request.log.error({ err: error }, 'health check: database unusable');
      return reply.code(503).send({ status: 'unhealthy', service: 'Exotel Voice Caller', version, exotel, reason: `database: ${(error as Error).message}` });
    }
    return { status: 'healthy', service: 'Exotel Voice Caller', version, exotel };
  });
}

const isLoopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\./.test(host);
