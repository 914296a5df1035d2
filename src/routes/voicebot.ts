// Voicebot mode (reference §6): the dashboard flow's Voicebot applet opens a WebSocket to
// /voicebot/<APPLET_PATH_TOKEN> (the secret is a path segment, as for the applets), or first asks
// /applet/<token>/voicebot for the stream URL, which then carries our call id as a custom parameter (§6.1).
// Each socket is one VoicebotSession; a call has at most one.
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { tokenMatches } from '../api/auth.js';
import { sendJson } from './applet.js';
import { callerOf, exotelParams, firstPresent } from '../exotel/inbound.js';
import { FLOWS } from '../flows/registry.js';
import { vendorOrder } from '../flows/vendor-order.js';
import { streamSpeaker, unsayable } from '../voicebot/speaker.js';
import { VoicebotSession, type SessionDeps } from '../voicebot/session.js';

type Params = { token: string };

// Exotel's frames are small (100 ms of audio is a few KB): anything near this is not a frame of a call.
export const MAX_FRAME_BYTES = 256 * 1024;

export interface VoicebotOptions {
  /** Multiplies the waits for keys; tests shorten them. */
  waitScale?: number;
}

async function voicebotRoutes(app: FastifyInstance, options: VoicebotOptions): Promise<void> {
  const token = app.config.appletPathToken;
  if (!token || app.config.exotel.flowMode !== 'voicebot') return;
  // A stream can only play recordings: refuse to start rather than leave a vendor in silence.
  const problems = unsayable(app.clips, Object.values(FLOWS), app.config.defaultLanguage);
  if (!app.clips.enabled || problems.length > 0) {
    throw new Error(`EXOTEL_FLOW_MODE=voicebot needs every prompt recorded in PROMPTS_DIR (${app.config.promptsDir ?? 'unset'}): ${problems.join('; ') || 'PROMPTS_DIR is not set'}`);
  }

  const live = new Map<string, VoicebotSession>();
  const deps: Omit<SessionDeps, 'log'> = {
    store: app.store,
    speak: streamSpeaker(app.clips, app.config.defaultLanguage),
    options: { agentKey: app.config.agent?.key },
    live,
    defaultLanguage: app.config.defaultLanguage,
    fallbackFlow: vendorOrder,
    waitScale: options.waitScale ?? 1,
  };

  let stopping = false;
  // Registered for the whole server (this plugin is not encapsulated): an upgrade request to any other route
  // is answered and its socket closed by the plugin's hooks, never left open.
  await app.register(websocket, {
    options: { maxPayload: MAX_FRAME_BYTES },
    // A deploy must not cut vendors off mid-answer. This runs after the app's drain (jobs/shutdown.ts, the
    // first preClose hook), which waited for the calls on the line: new streams are refused now, and any
    // still open get what is left of SHUTDOWN_DRAIN_SECONDS.
    preClose: async function drain() {
      stopping = true;
      const deadline = Math.min(app.shutdown.deadline, Date.now() + app.config.jobs.shutdownDrainSeconds * 1000);
      if (live.size > 0) app.log.info({ streams: live.size }, 'shutting down: waiting for live Voicebot streams to end');
      while (live.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      for (const session of [...live.values()]) session.shutDown();
      for (const client of app.websocketServer.clients) client.close(1001, 'server shutting down');
      // A peer that never answers the close frame (its network gone) would hold the server's close for ws's
      // own 30 s close timeout: 2 s, then it is cut.
      for (let i = 0; i < 40 && app.websocketServer.clients.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      for (const client of app.websocketServer.clients) client.terminate();
    },
  });

  const refuseWrongToken = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    if (tokenMatches(request.params.token, token)) return;
    request.log.error('Voicebot request with a wrong path token: check APPLET_PATH_TOKEN in the dashboard flow');
    return reply.code(403).send({ success: false, code: 'IVR_ERR_FORBIDDEN', message: 'Forbidden' });
  };

  app.route<{ Params: Params }>({
    method: 'GET',
    url: '/voicebot/:token',
    preValidation: refuseWrongToken,
    handler: async (_request, reply) =>
      reply.code(426).header('upgrade', 'websocket').send({ success: false, code: 'IVR_ERR_UPGRADE_REQUIRED', message: 'This is a WebSocket endpoint for Exotel\'s Voicebot applet' }),
    wsHandler: (socket, request) => {
      if (stopping) return socket.close(1013, 'server shutting down');
      const query = (request.query ?? {}) as Record<string, unknown>;
      const rate = Number(query['sample-rate']);
      const session = new VoicebotSession(socket, { ...deps, log: request.log }, {
        callId: typeof query.call_id === 'string' ? query.call_id : undefined,
        sampleRate: rate === 16_000 || rate === 24_000 || rate === 8_000 ? rate : app.config.voicebotSampleRate,
      });
      // Handlers attached at once: no frame is missed (@fastify/websocket README).
      socket.on('message', (data, isBinary) => {
        if (isBinary) return; // the protocol is JSON text frames only
        session.receive(data.toString());
      });
      socket.on('close', (code) => session.closed(code));
      socket.on('error', (error) => request.log.warn({ err: error }, 'Voicebot socket error'));
    },
  });

  // The applet's URL may be this HTTPS endpoint instead, which answers the stream URL for the call (§6.1).
  app.route<{ Params: Params }>({
    method: ['GET', 'POST'],
    url: '/applet/:token/voicebot',
    preValidation: refuseWrongToken,
    handler: async (request, reply) => {
      const params = exotelParams(request.query, request.body);
      const call = app.store.byExotelRequest(firstPresent(params, ['CallSid']), firstPresent(params, ['CustomField']), callerOf(params));
      app.store.recordEvent({ callId: call?.id ?? null, kind: call ? 'exotel_request' : 'voicebot_url_unknown_call', route: '/applet/voicebot', params });
      return sendJson(reply, { url: app.links.voicebotStream(token, app.config.voicebotSampleRate, call?.id) });
    },
  });
}

// Not encapsulated: the WebSocket plugin's hooks must cover every route (see the registration above).
export default fp(voicebotRoutes, { name: 'voicebot-routes', fastify: '5.x' });
