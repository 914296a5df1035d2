// ExoML mode: Exotel fetches /exoml/<slug> for the greeting and posts each Gather's keys back to the step's
// URL. Thin: check our signature, parse what Exotel sent (exotel/inbound.ts), take the turn, render ExoML.
// Whatever happens, Exotel gets a 200 with a valid document (an apology when we cannot go on).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pressedMessage, takeTurn } from '../calls/conversation.js';
import { callLog, safeUrl } from '../logging.js';
import { agentLegStatus, exotelParams, firstPresent, pressedAnyKey, pressedDigits } from '../exotel/inbound.js';
import { advance, start, stepBySlug, stepOf } from '../flows/engine.js';
import { flowBySlug } from '../flows/registry.js';
import type { EngineOptions, Flow, FlowState, Input, Language, Reply } from '../flows/types.js';
import { LANGUAGES } from '../flows/types.js';
import { vendorOrder } from '../flows/vendor-order.js';
import { exomlDocument, hangup } from '../transports/exoml-builder.js';
import { apologyExoml, renderExoml } from '../transports/exoml.js';
import { recordAgentStatus } from './applet.js';
import { safeAnswer } from './exotel-fallback.js';

const XML = 'application/xml; charset=utf-8';
// Where Exotel reports the agent leg of a transfer (<Dial action>): one route for every flow.
const AGENT_STATUS = 'agent-status';

export default async function exomlRoutes(app: FastifyInstance): Promise<void> {
  const options: EngineOptions = { agentKey: app.config.agent?.key };

  app.route<{ Params: { slug: string } }>({
    method: ['GET', 'POST'],
    url: '/exoml/:slug',
    handler: async (request, reply) => {
      const { slug } = request.params;
      const flow = slug === AGENT_STATUS ? vendorOrder : flowBySlug(slug);
      const query = (request.query ?? {}) as Record<string, unknown>;
      if (!flow) {
        // A one-segment typo (/exoml/vendor-actoin): as the not-found handler answers longer ones (app.ts).
        request.log.error({ route: safeUrl(request.url.split('?')[0]!), method: request.method }, 'Exotel asked for a URL we do not serve: check the flow in the dashboard');
        return safeAnswer(app, request, reply, 'exoml');
      }
      const check = app.links.check(`/exoml/${slug}`, query);
      if (check !== 'ok') {
        request.log.warn({ route: slug, check }, 'ExoML request refused: URL signature missing, invalid or expired');
        return sendXml(reply.code(403), apologyExoml(flow, 'hi-IN'));
      }
      const params = exotelParams(query, request.body);
      const callId = typeof query.call === 'string' ? query.call : undefined;
      if (request.method === 'HEAD') {
        // A probe takes no turn: without digits it would count as the vendor's silence. Only headers go back.
        await app.store.grouped(() => app.store.recordEvent({ callId: callId && app.store.get(callId) ? callId : null, kind: 'exotel_probe', route: slug, params }));
        return sendXml(reply, apologyExoml(flow, 'hi-IN'));
      }
      // Stored before answered, in a group commit shared with the requests of the same moment.
      if (slug === AGENT_STATUS) return sendXml(reply, await app.store.grouped(() => agentStatus(app, request, callId, params)));
      const input = slug === flow.startSlug ? undefined : inputFrom(params);
      if (callId === undefined) {
        // Without a secret (simulator, development) a step can be rendered straight from the query, as the
        // seed's `curl /exoml/vendor-greeting?order_id=…` check did. Nothing is stored.
        if (app.links.signing) return sendXml(reply, apologyExoml(flow, 'hi-IN'));
        return sendXml(reply, preview(app, flow, slug, params, input, options));
      }
      return sendXml(reply, await app.store.grouped(() => step(app, request, flow, slug, callId, params, input, options)));
    },
  });
}

function step(
  app: FastifyInstance,
  request: FastifyRequest,
  flow: Flow,
  slug: string,
  callId: string,
  params: Record<string, string>,
  input: Input | undefined,
  options: EngineOptions,
): string {
  const call = app.store.get(callId);
  const exotelCallSid = firstPresent(params, ['CallSid']);
  const log = callLog(request.log, { call_id: callId, call_sid: exotelCallSid, order_id: call?.orderId });
  if (!call || call.flow !== flow.name || call.transport !== 'exoml') {
    app.store.recordEvent({ callId: null, kind: 'exotel_request_unknown_call', route: slug, params });
    log.warn({ route: slug }, 'ExoML request for an unknown call; answering an apology');
    return apologyExoml(flow, 'hi-IN');
  }
  if (input === undefined) log.info('ExoML greeting requested');

  const turnParam = typeof (request.query as Record<string, unknown>).turn === 'string' ? Number((request.query as Record<string, string>).turn) : undefined;
  const result = takeTurn(
    app.store,
    flow,
    call,
    {
      input,
      step: input === undefined ? undefined : stepBySlug(flow, slug),
      turn: Number.isInteger(turnParam) ? turnParam : undefined,
      route: `/exoml/${slug}`,
      params,
      exotelCallSid,
    },
    options,
  );
  // "Vendor pressed" only for keys that counted, as in the applet and Voicebot modes: ops count them in the log.
  const pressed = input?.kind === 'digits' ? input.digits || '#' : input ? 'nothing' : undefined;
  if (!result.applied) log.info({ step: call.state.step, pressed }, 'repeated or late ExoML request: nothing changed');
  else if (input) log.info({ step: call.state.step }, pressedMessage(input));
  if (result.applied && result.reply.kind !== 'ask') log.info({ outcome: result.state.outcome }, `Call outcome: ${result.state.outcome}`);
  return render(app, flow, result.state.language, { ...call.context, ...result.state.values }, result.reply, call.id);
}

/** Exotel's report of the agent leg after a transfer (DialCallStatus): stored, then the call ends. */
function agentStatus(app: FastifyInstance, request: FastifyRequest, callId: string | undefined, params: Record<string, string>): string {
  const call = callId ? app.store.get(callId) : undefined;
  const status = agentLegStatus(params) ?? 'unknown';
  app.store.transaction(() => {
    app.store.recordEvent({ callId: call?.id ?? null, kind: 'agent_leg_status', route: `/exoml/${AGENT_STATUS}`, params });
    if (call) recordAgentStatus(app, call.id, status);
  });
  request.log.info({ call_id: call?.id, order_id: call?.orderId, agent_status: status }, `Agent leg: ${status}`);
  return exomlDocument([hangup()]);
}

function render(
  app: FastifyInstance,
  flow: Flow,
  language: Language,
  context: Record<string, string | number | undefined>,
  reply: Reply,
  callId: string | undefined,
): string {
  const actionUrl =
    reply.kind === 'ask'
      ? app.links.exomlStep(stepOf(flow, reply.step).slug, callId === undefined ? {} : { call: callId, turn: String(reply.turn) })
      : undefined;
  const agent = app.config.agent && {
    number: app.config.agent.number,
    callerId: app.config.exotel.callerId,
    timeoutSeconds: app.config.agent.ringTimeoutSeconds,
    statusUrl: app.links.exomlStep(AGENT_STATUS, callId === undefined ? {} : { call: callId }),
  };
  return renderExoml(reply, { flow, language, context, actionUrl, agent, audio: app.audio });
}

function preview(app: FastifyInstance, flow: Flow, slug: string, params: Record<string, string>, input: Input | undefined, options: EngineOptions): string {
  const language = (LANGUAGES as readonly string[]).includes(params.language ?? '') ? (params.language as Language) : app.config.defaultLanguage;
  // The prompts take whatever the query names (the seed's check said `amount` for order_amount).
  const context = { ...params, order_amount: params.order_amount ?? params.amount };
  const stepId = stepBySlug(flow, slug) ?? flow.firstStep;
  const fresh: FlowState = { step: stepId, turn: 1, noInput: 0, invalid: 0, values: {}, language };
  const next = input === undefined ? start(flow, language) : advance(flow, fresh, input, options);
  return render(app, flow, next.state.language, { ...context, ...next.state.values }, next.reply, undefined);
}

/**
 * Keys pressed, or silence: a request with no digits (our Redirect after a Gather) means nothing was pressed.
 * A bare # is a press with no digits (the engine asks again), not silence.
 */
function inputFrom(params: Record<string, string>): Input {
  const digits = pressedDigits(params);
  if (digits) return { kind: 'digits', digits };
  return pressedAnyKey(params) ? { kind: 'digits', digits: '' } : { kind: 'no_input' };
}

function sendXml(reply: FastifyReply, document: string) {
  return reply.type(XML).send(document);
}
