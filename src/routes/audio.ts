// GET and HEAD /audio/<sha256>.wav: recorded and stitched prompts for Exotel's <Play> and audio_url. The URL
// is the content's hash, so it can be cached forever (Exotel caches audio by URL, reference §5.5).
import type { FastifyInstance } from 'fastify';

export default async function audioRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { file: string } }>('/audio/:file', async (request, reply) => {
    const hash = /^([0-9a-f]{64})\.wav$/.exec(request.params.file)?.[1];
    const wav = hash ? app.clips.file(hash) : undefined;
    if (!wav) return reply.code(404).send({ success: false, code: 'IVR_ERR_NOT_FOUND', message: 'No such audio' });
    return reply
      .header('content-type', 'audio/wav')
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('etag', `"${hash}"`)
      .send(wav);
  });
}
