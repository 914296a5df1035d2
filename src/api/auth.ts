// Bearer-token check for our own API. Both sides are hashed first so the comparison is constant-time
// whatever their lengths.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

const digest = (text: string) => createHash('sha256').update(text).digest();

export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** An onRequest hook: 401 with WWW-Authenticate unless the request carries `Authorization: Bearer <token>`. */
export function requireBearer(token: string | undefined) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (token === undefined) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match && tokenMatches(match[1]!, token)) return;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="exotel-caller"')
      .send({ success: false, code: 'IVR_ERR_UNAUTHORIZED', message: 'Missing or invalid bearer token' });
  };
}
