// What Exotel gets when a request cannot be answered the normal way: a URL we do not serve, a body we
// cannot read, an error of ours. A call step still gets a document the caller can hear (an error body or a
// 404 drops the caller, reference §5.2; DESIGN §5), and what Exotel sent is stored, never lost.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { callerOf, exotelParams, firstPresent, isJsonObject, nestedTooDeeply, unreadableBody } from '../exotel/inbound.js';
import { flowNamed } from '../flows/registry.js';
import type { Flow, Language } from '../flows/types.js';
import { vendorOrder } from '../flows/vendor-order.js';
import { tokenMatches } from '../api/auth.js';
import { safeUrl, withoutQuery } from '../logging.js';
import { apologyExoml } from '../transports/exoml.js';
import { appletFallback, sendJson } from './applet.js';

/** The Exotel-facing routes, each with its own safe answer: a call step's document, or the status webhook. */
export type ExotelRoute = 'exoml' | 'gather' | 'passthru' | 'greeting' | 'connect' | 'voicebot' | 'status';

/** Which Exotel route a path (or a route pattern) is, if any. Doubled slashes count as one. */
export function exotelRoute(path: string): ExotelRoute | undefined {
  const clean = path.replace(/\/{2,}/g, '/');
  if (clean.startsWith('/exoml/')) return 'exoml';
  // A stray character after the name (a % pasted in the dashboard) still names the route.
  if (/^\/webhook\/exotel\/status(?![\w-])/.test(clean)) return 'status';
  return /^\/applet\/[^/]+\/(gather|passthru|greeting|connect|voicebot)(?![\w-])/.exec(clean)?.[1] as ExotelRoute | undefined;
}

/**
 * A call step's answer when we cannot go on: the apology in the form the step expects, in the call's flow
 * and language when the request names a call we can read (not for a refused stranger: the answer must not
 * tell whether a call id exists). A Voicebot URL request gets the stream URL without our call id: the
 * stream finds the call by its CallSid.
 */
export function safeAnswer(app: FastifyInstance, request: FastifyRequest | undefined, reply: FastifyReply, route: Exclude<ExotelRoute, 'status'>): FastifyReply {
  if (route === 'voicebot') {
    const url = app.links.voicebotStream(app.config.appletPathToken ?? '', app.config.voicebotSampleRate);
    return sendJson(reply, { url });
  }
  const { flow, language } = request ? callOf(app, request) : DEFAULT_APOLOGY;
  if (route === 'exoml') return reply.type('application/xml; charset=utf-8').send(apologyExoml(flow, language));
  return appletFallback(reply, route, flow, language);
}

/** The flow and language of the call a request names (`call`, CallSid, CustomField); the defaults otherwise. */
function callOf(app: FastifyInstance, request: FastifyRequest): { flow: Flow; language: Language } {
  try {
    const params = exotelParams(request.query, undefined);
    const call = (params.call !== undefined && app.store.get(params.call)) || app.store.byExotelRequest(firstPresent(params, ['CallSid']), firstPresent(params, ['CustomField']), callerOf(params));
    if (call) return { flow: flowNamed(call.flow) ?? vendorOrder, language: call.state.language };
  } catch {
    // The store may be what failed: the default apology still plays.
  }
  return DEFAULT_APOLOGY;
}

const DEFAULT_APOLOGY: { flow: Flow; language: Language } = { flow: vendorOrder, language: 'hi-IN' };

/**
 * Keeps a request whose body could not be read (a broken multipart body, one over the size limit): its
 * query and the reason, for ops to match by CallSid later. Only one that proves it is Exotel's (a valid
 * signature, the applet path token), as the route itself would ask; false when nothing was stored.
 */
export function storeUnreadable(app: FastifyInstance, request: FastifyRequest, route: ExotelRoute, error: FastifyError): boolean {
  if (!authentic(app, request, route)) return false;
  const path = safeUrl(request.url);
  request.log.error({ route: path, err_code: error.code, err: error }, 'Exotel sent a request we could not read; stored its query and the reason');
  try {
    const params = exotelParams(request.query, unreadableBody(error.code ?? error.message));
    // With the call it names, when we have it, so it shows in that call's timeline.
    const named = params.call ?? params.CustomField;
    const callId = named !== undefined && app.store.get(named) ? named : null;
    app.store.recordEvent({ callId, kind: 'exotel_request_unreadable', route: path, params });
    return true;
  } catch (storeError) {
    request.log.error({ err: storeError }, 'could not store the unreadable Exotel request');
    return false;
  }
}

function authentic(app: FastifyInstance, request: FastifyRequest, route: ExotelRoute): boolean {
  let path = withoutQuery(request.url).replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
  try {
    path = decodeURIComponent(path);
  } catch {
    // A stray %: checked as it came (a signature never covers such a path; the applet token still can).
  }
  if (route === 'exoml' || route === 'status') return app.links.check(path, (request.query ?? {}) as Record<string, unknown>) === 'ok';
  const given = /^\/applet\/([^/]+)\//.exec(path)?.[1];
  return app.config.appletPathToken !== undefined && given !== undefined && tokenMatches(given, app.config.appletPathToken);
}

/**
 * The JSON parser, strict for our API (a clear 400) and lenient on Exotel's routes: an empty body is no
 * body, and one that is not JSON (or is hostile: a __proto__ key) is kept as text with the reason, so the
 * step still runs from its query, and the request is stored with what it carried.
 */
export function lenientJsonOnExotelRoutes(fastify: FastifyInstance): void {
  const strict = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  const parse: Parameters<typeof fastify.addContentTypeParser<string>>[2] = (request, body, done) => {
    const text = String(body);
    const exotel = exotelRoute(request.routeOptions.url ?? request.url.split('?')[0]!) !== undefined;
    const unreadable = (reason: string) => {
      request.log.warn({ route: safeUrl(request.url), err_code: reason }, 'Exotel sent a JSON body we could not read; going on from its query');
      done(null, unreadableBody(reason, text));
    };
    // Before parsing: a body of thousands of brackets is not walked at all.
    if (exotel && nestedTooDeeply(text)) return unreadable('JSON nested too deeply');
    strict(request, text, (error: Error | null, value?: unknown) => {
      if (!exotel) return done(error, value);
      if (text.trim() === '') return done(null, undefined);
      if (error) return unreadable((error as FastifyError).code ?? 'invalid JSON');
      // An array, a string or a number carries no fields we know: kept, not read as nothing.
      return isJsonObject(value) ? done(null, value) : unreadable('not a JSON object');
    });
  };
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, parse);
  // A structured JSON type (application/vnd.api+json, application/problem+json) is JSON too, as the trigger
  // reads it: without a parser its body came as text and was refused as "not a JSON object".
  fastify.addContentTypeParser(/^application\/[\w.!#$&^-]+\+json\s*(;|$)/i, { parseAs: 'string' }, parse);
}
