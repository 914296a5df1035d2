// The Fastify app as a plugin (after fastify/demo): it gets its dependencies, decorates the instance with
// them and registers the routes. server.ts owns the process; tests build this with real dependencies.
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { createHash } from 'node:crypto';
import { allowedNetworks } from './exotel/allowed-networks.js';
import { safeUrl } from './logging.js';
import { fastifyTrustProxy, type Config } from './config.js';
import type { ExotelClient } from './exotel/client.js';
import { Links } from './links.js';
import { requireBearer } from './api/auth.js';
import type { Db } from './store/database.js';
import { CallStore } from './store/calls.js';
import { OutboxStore } from './store/outbox.js';
import { ExotelLedger } from './store/exotel-ledger.js';
import type { CallDeps } from './calls/deps.js';
import { Scheduler } from './jobs/scheduler.js';
import { Shutdown } from './jobs/shutdown.js';
import { dirname, join } from 'node:path';
import { ClipLibrary } from './audio/clip-library.js';
import { recordingScript, type AudioRenderer } from './flows/prompts.js';
import type { Flow, Language } from './flows/types.js';
import audioRoutes from './routes/audio.js';
import metricsRoute from './routes/metrics.js';
import opsRoutes from './routes/ops.js';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { version as packageVersion } from './version.js';
import { Metrics } from './metrics.js';
import healthRoutes from './routes/health.js';
import triggerRoutes from './routes/trigger.js';
import readBackRoutes from './routes/read-back.js';
import withdrawRoutes from './routes/withdraw.js';
import exomlRoutes from './routes/exoml.js';
import statusWebhookRoutes from './routes/status-webhook.js';
import appletRoutes from './routes/applet.js';
import { unreadableBody } from './exotel/inbound.js';
import { parseUrlencoded } from './urlencoded.js';
import { exotelRoute, lenientJsonOnExotelRoutes, safeAnswer, storeUnreadable } from './routes/exotel-fallback.js';
import voicebotRoutes from './routes/voicebot.js';

/** The server's own options: server.ts and the test harness build the same server. */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    bodyLimit: 64 * 1024,
    // TRUST_PROXY: behind a TLS reverse proxy, the client address comes from its X-Forwarded-For (README "Security").
    trustProxy: fastifyTrustProxy(config.security.trustProxy),
    // A URL pasted into the dashboard with a trailing or a doubled slash still reaches its route, not a 404
    // that drops the caller.
    // maxParamLength counts the path's encoded text: an order id of 64 characters takes up to 768 (an emoji
    // is 12 as %XX), far past the default 100, which answered 414 for ids the trigger took.
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 1024 },
    // While a deploy drains (jobs/shutdown.ts), every route answers as usual: a 503 drops a caller mid-call.
    return503OnClosing: false,
    // avvio holds every hook to this, the drain's preClose too: at the default 10 s a longer drain was cut
    // off (AVV_ERR_READY_TIMEOUT) and the server stopped listening with calls on the line.
    pluginTimeout: Math.max(10, config.jobs.shutdownDrainSeconds + 30) * 1000,
    // A path Fastify cannot decode (a stray %) goes through our error handler: an Exotel step still gets a
    // document, our API its JSON error.
    frameworkErrors: (error, request, reply) => {
      // An Upgrade request that fails before routing skips @fastify/websocket's onResponse hook, the one that
      // closes its socket: left open, it would hold a descriptor for good and keep close() from finishing.
      if (request.raw.headers.upgrade) reply.raw.once('finish', () => request.raw.socket?.destroy());
      void handleError(error, request, reply);
    },
  };
}

export interface AppDeps {
  config: Config;
  db: Db;
  exotel: ExotelClient;
  /** The clock every due time is read from (tests move it by hand). */
  now?: () => Date;
  random?: () => number;
  /** False: the app does not run its scheduler loop (tests drive `scheduler.tick()` themselves). */
  runScheduler?: boolean;
  /** Multiplies a Voicebot stream's waits for keys (tests shorten them; 1 in service). */
  voicebotWaitScale?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Db;
    store: CallStore;
    outbox: OutboxStore;
    ledger: ExotelLedger;
    exotel: ExotelClient;
    links: Links;
    callDeps: CallDeps;
    scheduler: Scheduler;
    shutdown: Shutdown;
    metrics: Metrics;
    clips: ClipLibrary;
    /** Recorded prompts as URLs to play, when PROMPTS_DIR is set. */
    audio: AudioRenderer | undefined;
  }
}

async function app(fastify: FastifyInstance, deps: AppDeps): Promise<void> {
  const now = deps.now ?? (() => new Date());
  const store = new CallStore(deps.db, now, deps.config.jobs.reconcileAfterSeconds * 1000);
  const outbox = new OutboxStore(deps.db, now);
  const metrics = new Metrics({ queueDepth: () => store.queueDepth(), outboxBacklog: () => outbox.backlog(), outboxDead: () => outbox.deadCount(), now });
  deps.exotel.observer = (operation, result, seconds) => metrics.exotelRequest(operation, result, seconds);
  // A Connect request must never leave before the attempt row that describes it is on disk.
  deps.exotel.beforeRequest = () => store.group.flush();
  // Stitched prompts are kept beside the database, so URLs handed to Exotel outlive a restart.
  const clips = new ClipLibrary(deps.config.promptsDir, deps.config.databasePath === ':memory:' ? undefined : join(dirname(deps.config.databasePath), 'audio'), now);
  const callDeps: CallDeps = {
    config: deps.config,
    store,
    outbox,
    metrics,
    ledger: new ExotelLedger(deps.db, now),
    exotel: deps.exotel,
    links: new Links(deps.config.publicBaseUrl, deps.config.webhookSecret, {
      previousSecret: deps.config.security.webhookSecretPrevious,
      // A flow URL lives as long as the call may (ring time + TimeLimit) plus 10 minutes; a status callback a day.
      flowUrlMaxAgeSeconds: deps.config.exotel.ringTimeoutSeconds + deps.config.exotel.timeLimitSeconds + 600,
      statusUrlMaxAgeSeconds: 86_400,
      now,
    }),
    log: fastify.log,
    clips,
    now,
    random: deps.random ?? Math.random,
  };
  const scheduler = new Scheduler(callDeps);
  const shutdown = new Shutdown(callDeps, scheduler);
  fastify.decorate('config', deps.config);
  fastify.decorate('db', deps.db);
  fastify.decorate('store', callDeps.store);
  fastify.decorate('outbox', callDeps.outbox);
  fastify.decorate('ledger', callDeps.ledger);
  fastify.decorate('exotel', deps.exotel);
  fastify.decorate('links', callDeps.links);
  fastify.decorate('callDeps', callDeps);
  fastify.decorate('scheduler', scheduler);
  fastify.decorate('shutdown', shutdown);
  // First of the preClose hooks (the Voicebot streams' drain comes after it): see jobs/shutdown.ts.
  fastify.addHook('preClose', async () => shutdown.drain());
  fastify.decorate('metrics', metrics);
  fastify.addHook('onClose', async () => store.group.flush());
  // Response latency by route template (never the raw URL: it holds tokens and signatures).
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (route !== '/metrics') metrics.response(route, request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  fastify.decorate('clips', clips);
  fastify.decorate(
    'audio',
    clips.enabled
      ? (flow: Flow, language: Language, names: string[], context: Record<string, string | number | undefined>) => {
          const parts = recordingScript(flow, names);
          const made = parts && clips.render(language, parts, context);
          return made && `${deps.config.publicBaseUrl}/audio/${made.hash}.wav`;
        }
      : undefined,
  );
  if (deps.runScheduler !== false) {
    // Due work starts once the server is ready and stops, in-flight work finished, when it closes.
    fastify.addHook('onReady', async () => scheduler.start());
    fastify.addHook('onClose', async () => scheduler.stop());
  }

  // Decoded as the URL standard does, so bytes that are not UTF-8 are seen (urlencoded.ts).
  await fastify.register(formbody, { parser: parseUrlencoded });
  lenientJsonOnExotelRoutes(fastify);
  // Exotel posts status callbacks as multipart/form-data by default (reference §3.1). Fields only.
  await fastify.register(multipart, { attachFieldsToBody: 'keyValues', limits: { files: 0, fields: 200, fieldSize: 64 * 1024 } });
  // A body of any other type is kept as text, not refused: an Exotel route must still answer a document.
  fastify.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  fastify.setErrorHandler((error: FastifyError, request, reply) => handleError(error, request, reply));
  fastify.addHook('preHandler', async (request) => {
    reachedHandler.add(request);
    // A multipart body that gave no field at all (a boundary that does not match, say) is not "no keys".
    if (request.isMultipart() && isEmptyObject(request.body) && Number(request.headers['content-length'] ?? 1) > 0 && exotelRoute(routeOf(request))) {
      request.body = unreadableBody('multipart body without fields');
    }
  });

  // Exotel-facing routes answer only Exotel's networks, when they are configured; a refusal is still a
  // document the caller can hear, never an error body.
  const fromExotel = allowedNetworks(deps.config.security.exotelAllowedCidrs);
  if (fromExotel) {
    fastify.addHook('onRequest', async (request, reply) => {
      // The matched route, not the raw URL (which may be percent-encoded).
      const path = routeOf(request);
      if (!/^\/(exoml|applet|webhook|voicebot)\//.test(path) || fromExotel(request.ip)) return;
      request.log.warn({ ip: request.ip, route: safeUrl(path) }, 'Exotel-facing request from outside EXOTEL_ALLOWED_CIDRS refused');
      const step = exotelRoute(path);
      if (step && step !== 'status') return safeAnswer(fastify, undefined, reply.code(403), step);
      return reply.code(403).send({ success: false, code: 'IVR_ERR_FORBIDDEN_NETWORK', message: 'Not an allowed network' });
    });
  }
  fastify.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    // An Exotel step at a URL we do not serve (a typo in the dashboard): the caller hears a closing, not the
    // dead air a 404 gives them, and ops see why in the log.
    // HEAD too: Exotel probes the Greeting with HEAD first (reference §5.5); Node sends the headers only.
    const step = ['GET', 'POST', 'HEAD'].includes(request.method) ? exotelRoute(path) : undefined;
    if (step && step !== 'status') {
      request.log.error({ route: safeUrl(path), method: request.method }, 'Exotel asked for a URL we do not serve: check the flow in the dashboard');
      return safeAnswer(fastify, request, reply, step);
    }
    return reply.code(404).send({ success: false, code: 'IVR_ERR_NOT_FOUND', message: `No route ${request.method} ${path}` });
  });

  if (deps.config.docsEnabled) {
    // OpenAPI at /docs/json and a UI at /docs (off in production unless DOCS_ENABLED=true).
    await fastify.register(swagger, {
      openapi: {
        info: { title: 'exotel-caller API', version: packageVersion, description: 'Phones vendors and riders about orders through Exotel.' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      },
      hideUntagged: false,
      transform: ({ schema, url }) => ({ schema: url.startsWith('/api/') ? schema : { ...schema, hide: true }, url }),
    });
    await fastify.register(swaggerUi, { routePrefix: '/docs' });
  }
  await fastify.register(healthRoutes);
  // Our own API: every /api route needs the bearer token when one is configured, and each token (or
  // address, without one) gets API_RATE_LIMIT_PER_MINUTE requests a minute.
  await fastify.register(async (api) => {
    api.addHook('onRequest', requireBearer(deps.config.apiToken));
    await api.register(rateLimit, {
      max: deps.config.security.apiRateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => {
        const header = request.headers.authorization;
        return header ? `token:${createHash('sha256').update(header).digest('base64url')}` : `ip:${request.ip}`;
      },
      errorResponseBuilder: (_request, context) => ({
        statusCode: 429,
        success: false,
        code: 'IVR_ERR_RATE_LIMITED',
        message: `Too many requests: at most ${context.max} a minute; retry in ${Math.ceil(context.ttl / 1000)} s`,
      }),
    });
    await api.register(triggerRoutes);
    await api.register(readBackRoutes);
    await api.register(withdrawRoutes);
  });
  // /metrics: the token, but not the backend's per-minute allowance.
  await fastify.register(async (scrape) => {
    scrape.addHook('onRequest', requireBearer(deps.config.apiToken));
    await scrape.register(metricsRoute);
  });
  await fastify.register(exomlRoutes);
  await fastify.register(statusWebhookRoutes);
  await fastify.register(appletRoutes);
  await fastify.register(voicebotRoutes, { waitScale: deps.voicebotWaitScale ?? 1 });
  await fastify.register(audioRoutes);
  await fastify.register(opsRoutes);
}

const isEmptyObject = (value: unknown) => typeof value === 'object' && value !== null && Object.keys(value).length === 0;

/** The route pattern the request matched (e.g. /exoml/:slug), or its decoded path when none matched. */
function routeOf(request: FastifyRequest): string {
  const pattern = request.routeOptions?.url;
  if (pattern) return pattern;
  try {
    return decodeURIComponent(request.url.split('?')[0]!);
  } catch {
    return request.url.split('?')[0]!;
  }
}

// Requests whose handler started: an error after that is ours (500); before it, the request could not be
// read (a multipart body without a boundary, say) and is the sender's (400).
const reachedHandler = new WeakSet<FastifyRequest>();

/** The one error handler. Exotel's call routes never get an error: the caller would hear dead air (DESIGN §5). */
function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? (reachedHandler.has(request) ? 500 : 400);
  const route = routeOf(request);
  const step = exotelRoute(route);
  // Before the handler: the request could not be read. Whatever Exotel sent is kept all the same.
  const stored = step !== undefined && !reachedHandler.has(request) && storeUnreadable(request.server, request, step, error);
  if (step && step !== 'status') {
    // Never an error body to a call step (reference §5.2): a closing the caller can hear, then the Hangup.
    if (reachedHandler.has(request)) request.log.error({ err: error }, 'Exotel call step failed; answering a closing');
    return safeAnswer(request.server, request, reply.code(200), step);
  }
  // Stored: a 200, since Exotel's retry would carry the same body; the reconciler asks Call Details instead.
  if (stored) return reply.code(200).send({ success: true, matched: false });
  // @fastify/multipart's own words ("reach files limit", a 413) for what is a body of the wrong kind.
  if (error.code === 'FST_FILES_LIMIT') {
    return reply.code(415).send({ success: false, code: 'IVR_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'Files are not accepted: send the fields as JSON, a form body or query parameters' });
  }
  if (status >= 500) {
    request.log.error({ err: error }, 'request failed');
    return reply.code(status).send({ success: false, code: 'IVR_ERR_INTERNAL', message: 'Internal error' });
  }
  return reply.code(status).send({ success: false, code: error.code ?? 'IVR_ERR_BAD_REQUEST', message: error.message });
}

// Not encapsulated: the decorators are visible to whoever registers the app (server.ts, tests).
export default fp(app, { name: 'exotel-caller', fastify: '5.x' });
