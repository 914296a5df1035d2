// Applet mode (reference §5): a dashboard flow of [Gather] → [sync Passthru] → 200: back to the Gather,
// 302: [Greeting] → [Hangup]. Exotel calls these three URLs with GET (HEAD first on the Greeting); the
// call is found by CallSid, or by CustomField (our call id) before the CallSid is stored, or, on a Gather
// (which carries no CustomField, §5.2), by the vendor's number while it is being dialled. Nothing we need
// rides in the query, which Exotel was seen to drop (§13): the secret is a path segment.
// These routes never answer Exotel with an error body: a Gather with a bad answer drops the caller.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { tokenMatches } from '../api/auth.js';
import { endingWithoutTurn, pressedMessage, takeTurn } from '../calls/conversation.js';
import { callLog } from '../logging.js';
import { agentLegStatus, bodyUnreadable, callerOf, exotelParams, firstPresent, pressedAnyKey, pressedDigits } from '../exotel/inbound.js';
import { advance, start } from '../flows/engine.js';
import { flowNamed } from '../flows/registry.js';
import type { EngineOptions, Flow, FlowState, Input, Language, Reply } from '../flows/types.js';
import { vendorOrder } from '../flows/vendor-order.js';
import type { CallRecord } from '../store/calls.js';
import { closingText, connectJson, gatherJson, passthruStatus } from '../transports/applet.js';

type Params = { token: string };

export default async function appletRoutes(app: FastifyInstance): Promise<void> {
  const token = app.config.appletPathToken;
  if (!token) return;

  /** The call this request is about, or undefined (logged and stored) when it is not an applet call of ours. */
  function locate(request: FastifyRequest<{ Params: Params }>, route: string): { call: CallRecord; flow: Flow; params: Record<string, string> } | undefined {
    // A Voicebot flow ends in the same Connect and Passthru applets (README, "Voicebot mode").
    const transports = /\/(connect|passthru)$/.test(route) ? ['applet', 'voicebot'] : ['applet'];
    // The token first: a stranger's request costs no parsing of what it carries.
    if (!tokenMatches(request.params.token, token!)) {
      request.log.error({ route }, 'applet request with a wrong path token: check APPLET_PATH_TOKEN in the dashboard flow');
      return undefined;
    }
    const params = exotelParams(request.query, request.body);
    const sid = firstPresent(params, ['CallSid']);
    const call = app.store.byExotelRequest(sid, firstPresent(params, ['CustomField']), callerOf(params));
    const flow = call && flowNamed(call.flow);
    if (!call || !flow || !transports.includes(call.transport)) {
      app.store.recordEvent({ callId: null, kind: 'applet_request_unknown_call', route, params });
      request.log.warn({ route, call_sid: sid }, 'applet request for an unknown call; answering a polite closing');
      return undefined;
    }
    return { call, flow, params };
  }

  const context = (call: CallRecord, values: Record<string, number>) => ({ ...call.context, ...values });
  const render = (call: CallRecord, flow: Flow, state: FlowState) => ({ flow, language: state.language, context: context(call, state.values), audio: app.audio });
  const options: EngineOptions = { agentKey: app.config.agent?.key };
  // Stored before answered: the work joins the group commit of this moment's requests (store/group-commit.ts)
  // and says how to answer; the answer goes once the group is on disk.
  const afterCommit = async (work: () => () => FastifyReply) => (await app.store.grouped(work))();

  app.route<{ Params: Params }>({
    method: ['GET', 'POST'],
    url: '/applet/:token/gather',
    exposeHeadRoute: true,
    handler: async (request, reply) => {
      return afterCommit(() => {
        const route = '/applet/gather';
        const found = locate(request, route);
        const wrongToken = !tokenMatches(request.params.token, token);
        if (!found) return () => appletFallback(reply.code(wrongToken ? 403 : 200), 'gather');
        const { call, flow, params } = found;
        const log = callLog(request.log, { call_id: call.id, call_sid: call.exotelCallSid ?? firstPresent(params, ['CallSid']), order_id: call.orderId });
        if (request.method === 'HEAD') {
          app.store.recordEvent({ callId: call.id, kind: 'exotel_probe', route, step: call.state.step, params });
          // What a GET would answer, so the headers (Content-Length too) are the same.
          const answer = endingWithoutTurn(flow, call) ?? call.lastReply ?? start(flow, call.state.language).reply;
          return () => sendJson(reply, gatherJson(answer, render(call, flow, call.state)));
        }
        if (call.lastReply === null) log.info('Gather applet: greeting requested');
        const result = takeTurn(app.store, flow, call, { input: undefined, asks: true, route, params, exotelCallSid: firstPresent(params, ['CallSid']) }, options);
        return () => sendJson(reply, gatherJson(result.reply, render(call, flow, result.state)));
      });
    },
  });

  app.route<{ Params: Params }>({
    method: ['GET', 'POST'],
    url: '/applet/:token/passthru',
    handler: async (request, reply) => {
      return afterCommit(() => {
        const route = '/applet/passthru';
        const found = locate(request, route);
        if (!found) return () => appletFallback(reply.code(tokenMatches(request.params.token, token) ? 302 : 403), 'passthru');
        const { call, flow, params } = found;
        if (request.method === 'HEAD') {
          // A probe takes no turn: without digits it would count as the vendor's silence and end the call.
          app.store.recordEvent({ callId: call.id, kind: 'exotel_probe', route, step: call.state.step, params });
          return () => sendText(reply, '');
        }
        const log = callLog(request.log, { call_id: call.id, call_sid: call.exotelCallSid ?? firstPresent(params, ['CallSid']), order_id: call.orderId });
        if (call.transport === 'applet' && call.askedTurn === null && call.state.outcome === undefined && call.settledAt === null) {
          // The Gather before this could not tell whose call it was, so the vendor heard our apology, not the
          // question: these keys answer nothing. Back to the Gather once, which finds the call now by the
          // CallSid stored here; after that, on to the Greeting, and the call ends unanswered.
          const again = !app.store.events(call.id).some((e) => e.kind === 'applet_keys_unasked');
          app.store.recordEvent({ callId: call.id, kind: 'applet_keys_unasked', route, step: call.state.step, digits: pressedDigits(params) || undefined, params });
          const sid = firstPresent(params, ['CallSid']);
          if (sid) app.store.adopt(call.id, sid);
          log.warn({ again }, 'Passthru before any Gather of this call was answered: the keys are not taken');
          return () => sendText(reply.code(again ? 200 : 302), again ? 'ask' : 'end');
        }
        // The previous Gather's keys, quoted (§5.1). None after Exotel's own repeats: the question is exhausted.
        const digits = pressedDigits(params);
        // Only true silence is final. A bare # is a press with no digits (the engine asks again); a body we could
        // not read may have carried keys: a silence, but not the last.
        const input: Input = digits
          ? { kind: 'digits', digits }
          : pressedAnyKey(params)
            ? { kind: 'digits', digits: '' }
            : { kind: 'no_input', final: !bodyUnreadable(params) };
        // After a transfer, the async Passthru behind the Connect applet says how the agent leg went.
        const agentLeg = call.state.outcome === 'transferred' ? agentLegStatus(params) : undefined;
        if (agentLeg) recordAgentStatus(app, call.id, agentLeg);
        const result = takeTurn(app.store, flow, call, {
          input,
          // Only an answer to the question Exotel last fetched counts; anything else is a repeat.
          turn: call.askedTurn ?? 0,
          route,
          params,
          exotelCallSid: firstPresent(params, ['CallSid']),
        }, options);
        if (result.applied) {
          log.info({ step: call.state.step }, pressedMessage(input));
          if (result.reply.kind === 'end') log.info({ outcome: result.reply.outcome }, `Call outcome: ${result.reply.outcome}`);
        } else {
          log.info('repeated or late Passthru: nothing changed');
        }
        const status = passthruStatus(result.reply);
        return () => sendText(reply.code(status), status === 200 ? 'ask' : 'end');
      });
    },
  });

  // GET and HEAD (Exotel probes the Greeting URL with HEAD first, §5.5): the same headers, no body on HEAD.
  // POST too: Exotel documents GET, but a 404 would drop the caller, so every method it could use answers.
  app.route<{ Params: Params }>({ method: ['GET', 'POST'], url: '/applet/:token/greeting', handler: async (request, reply) => {
    return afterCommit(() => {
      const route = '/applet/greeting';
      const found = locate(request, route);
      if (!found) return () => appletFallback(reply.code(tokenMatches(request.params.token, token) ? 200 : 403), 'greeting');
      const { call, flow, params } = found;
      let ending: Reply;
      let state = call.state;
      if (call.state.outcome !== undefined && call.lastReply !== null) {
        ending = call.lastReply;
        app.store.recordEvent({ callId: call.id, kind: request.method === 'HEAD' ? 'exotel_probe' : 'exotel_request', route, step: call.state.step, params });
      } else if (request.method === 'HEAD' || call.askedTurn === null) {
        // HEAD: what a GET would say (the apology, when the call was settled or withdrawn meanwhile), without
        // settling anything. No Gather ever reached us (its URL or token is wrong): the vendor never heard a
        // question, so no silence of theirs ends the call; they hear the apology, and the status settles it
        // (not_reached).
        const neverAsked = call.askedTurn === null;
        ending = endingWithoutTurn(flow, call) ?? (neverAsked ? { kind: 'end', outcome: 'not_reached', say: [flow.apology] } : advance(flow, call.state, { kind: 'no_input', final: true }, options).reply);
        app.store.recordEvent({ callId: call.id, kind: request.method === 'HEAD' ? 'exotel_probe' : 'exotel_request', route, step: call.state.step, params });
        if (neverAsked && request.method !== 'HEAD') request.log.error({ call_id: call.id, order_id: call.orderId }, "Greeting reached, but no Gather of ours ever asked the vendor: check the Gather applet's URL");
      } else {
        // The flow reached its Greeting with the conversation unfinished (an unrolled chain ran out): it ends here.
        const result = takeTurn(app.store, flow, call, { input: { kind: 'no_input', final: true }, turn: call.state.turn, route, params }, options);
        ending = result.reply;
        state = result.state;
        request.log.info({ call_id: call.id, order_id: call.orderId, outcome: call.state.outcome }, 'Greeting reached before the conversation ended');
      }
      return () => sendText(reply, closingText(ending, render(call, flow, state)));
    });
  } });

  // The Connect applet after the Greeting (README recipe): the agent after a transfer, else nobody.
  app.route<{ Params: Params }>({ method: ['GET', 'POST'], url: '/applet/:token/connect', handler: async (request, reply) => {
    return afterCommit(() => {
      const route = '/applet/connect';
      const found = locate(request, route);
      if (!found) return () => sendJson(reply.code(tokenMatches(request.params.token, token) ? 200 : 403), connectJson(undefined));
      const { call, params } = found;
      app.store.recordEvent({ callId: call.id, kind: request.method === 'HEAD' ? 'exotel_probe' : 'exotel_request', route, step: call.state.step, params });
      const agent = app.config.agent;
      const transfer = call.state.outcome === 'transferred' && agent;
      if (transfer) request.log.info({ call_id: call.id, order_id: call.orderId }, 'Connecting the caller to an agent');
      return () => sendJson(reply, connectJson(transfer ? { number: agent.number, callerId: app.config.exotel.callerId, timeoutSeconds: agent.ringTimeoutSeconds } : undefined));
    });
  } });
}

/**
 * What an applet gets when we cannot go on: a closing it can play, in the form that applet expects, in the
 * call's language when it is known.
 */
export function appletFallback(reply: FastifyReply, applet: 'gather' | 'passthru' | 'greeting' | 'connect', flow: Flow = vendorOrder, language: Language = 'hi-IN') {
  const apology: Reply = { kind: 'end', outcome: 'no_response', say: [flow.apology] };
  const render = { flow, language, context: {} };
  if (applet === 'gather') return sendJson(reply, gatherJson(apology, render));
  if (applet === 'connect') return sendJson(reply, connectJson(undefined));
  if (applet === 'passthru') return sendText(reply.statusCode === 200 ? reply.code(302) : reply, 'end');
  return sendText(reply, closingText(apology, render));
}

/** The agent leg's end, on the call and on its outcome if the backend has not been sent it yet. */
export function recordAgentStatus(app: FastifyInstance, callId: string, status: string): void {
  app.store.transaction(() => {
    app.store.setAgentStatus(callId, status);
    app.outbox.patchUndelivered(`outcome_${callId}`, { agent_status: status });
  });
}

export function sendJson(reply: FastifyReply, body: unknown) {
  // Exactly application/json: Exotel was seen to drop the caller on any other type (reference §5.2).
  // A Buffer, so Fastify adds no charset parameter to the type (JSON is UTF-8 by definition).
  return reply.header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

function sendText(reply: FastifyReply, text: string) {
  // Exactly text/plain, "and nothing else" (reference §5.5), as Gather's JSON is exactly application/json. A
  // Buffer, so Fastify adds no charset; the bytes are UTF-8 all the same.
  return reply.header('content-type', 'text/plain').send(Buffer.from(text));
}
