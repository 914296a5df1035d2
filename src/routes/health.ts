// GET /health: for systemd, Docker's HEALTHCHECK and load balancers. Healthy only if the database answers.
import type { FastifyInstance } from 'fastify';
import { version } from '../version.js';

export default async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health', async (request, reply) => {
    try {
      app.db.prepare('SELECT COUNT(*) FROM calls').get();
    } catch (error) {
      request.log.error({ err: error }, 'health check: database unusable');
      return reply.code(503).send({ status: 'unhealthy', service: 'Exotel Voice Caller', version, reason: `database: ${(error as Error).message}` });
    }
    return { status: 'healthy', service: 'Exotel Voice Caller', version };
  });
}
