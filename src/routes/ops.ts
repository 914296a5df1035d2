// /ops: the operator's calls page. Find a call by order id, CallSid / call id, or the number (whole, or its
// last digits); read its timeline (what we asked, what was pressed at which step, callbacks, attempts, outcome
// delivery); play its recording, which the server fetches with the Exotel credentials (reference §2).
// Behind the API token: HTTP Basic with the token as password (a browser prompts) or a Bearer header.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { request as httpRequest } from 'undici';
import { tokenMatches } from '../api/auth.js';
import { eventsView } from '../api/call-view.js';
import { lookupBlockedUntil, pauseAfterRateLimit } from '../calls/dispatch.js';
import { isExotelError } from '../errors.js';
import { firstPresent } from '../exotel/inbound.js';
import { html, page } from '../ops/html.js';
import { FOUND_LIMIT, findCalls } from '../ops/find-calls.js';
import { callByKey, storedView } from './read-back.js';

// How long a pre-signed recording URL is asked to last (Exotel takes 5 to 60 minutes, reference §2).
const PRESIGNED_MINUTES = 5;

export default async function opsRoutes(app: FastifyInstance): Promise<void> {
  // Pre-signed recording URLs by call, in memory only and only while valid: a browser that seeks asks for a
  // range at a time, and each must not cost a Call Details request of the allowance dials need.
  const presigned = new Map<string, { url: string; until: number }>();
  // A lookup on its way, shared by the ranges a browser asks for at once.
  const asking = new Map<string, Promise<string | 'rate_limited' | undefined>>();
  function presignedRecording(callId: string, sid: string): Promise<string | 'rate_limited' | undefined> {
    const now = app.callDeps.now().getTime();
    const kept = presigned.get(callId);
    if (kept && kept.until > now) return Promise.resolve(kept.url);
    const pending = asking.get(callId) ?? askPresigned(callId, sid, now).finally(() => asking.delete(callId));
    asking.set(callId, pending);
    return pending;
  }
  async function askPresigned(callId: string, sid: string, now: number): Promise<string | 'rate_limited' | undefined> {
    const deps = app.callDeps;
    // A share of the per-minute allowance, as for lookups that can wait; never during a 429's pause.
    if (lookupBlockedUntil(deps, 0.25)) return 'rate_limited';
    deps.ledger.record('details');
    try {
      const url = (await deps.exotel.callDetails(sid, { recordingUrlValidityMinutes: PRESIGNED_MINUTES })).preSignedRecordingUrl;
      if (url) {
        if (presigned.size >= 100) presigned.delete(presigned.keys().next().value!);
        presigned.set(callId, { url, until: now + (PRESIGNED_MINUTES - 1) * 60_000 });
      }
      return url;
    } catch (error) {
      if (!isExotelError(error)) throw error;
      pauseAfterRateLimit(deps, error, 0);
      return error.code === 'EXOTEL_ERR_RATE_LIMITED' ? 'rate_limited' : undefined;
    }
  }

  // Every route of this plugin (encapsulated): never decided on the raw URL, which may be percent-encoded.
  app.addHook('onRequest', async (request, reply) => {
    const token = app.config.apiToken;
    if (token === undefined) return;
    const header = request.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const basic = /^Basic\s+(\S+)$/i.exec(header)?.[1];
    const password = basic ? Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':') : undefined;
    const given = bearer ?? password;
    if (given !== undefined && tokenMatches(given, token)) return;
    return reply.code(401).header('www-authenticate', 'Basic realm="exotel-caller ops", charset="UTF-8"').type('text/plain').send('The API token is the password.');
  });

  app.get<{ Querystring: { q?: string } }>('/ops', async (request, reply) => {
    const q = typeof request.query.q === 'string' ? [...request.query.q.trim()].slice(0, 64).join('') : '';
    const found = q ? findCalls(app.store, q) : { calls: app.store.recent(FOUND_LIMIT), truncated: false };
    const { calls } = found;
    const rows = calls.map(
      (c) => html`<tr><td><a href="/ops/calls/${c.id}">${c.orderId}</a></td><td>${c.flow}</td><td>${c.phone}</td><td>${c.status}</td>
<td class="outcome">${c.outcome}</td><td><code>${c.exotelCallSid ?? ''}</code></td><td>${c.createdAt}</td></tr>`,
    );
    const body = html`<form method="get" action="/ops"><input type="search" name="q" value="${q}" placeholder="order id, the number or its last digits, or CallSid" autofocus>
<button type="submit">Find</button></form>
<p>${q ? `${calls.length} call(s) for “${q}”${found.truncated ? ', the newest only: search by order id for an older one' : ''}` : `The latest ${FOUND_LIMIT} calls`}</p>
<table id="calls"><tr><th>Order</th><th>Flow</th><th>Number</th><th>Status</th><th>Outcome</th><th>CallSid</th><th>Created</th></tr>${rows}</table>`;
    return sendHtml(reply, page('Calls', body));
  });

  app.get<{ Params: { id: string } }>('/ops/calls/:id', async (request, reply) => {
    const call = callByKey(app, request.params.id);
    if (!call) return sendHtml(reply.code(404), page('Not found', html`<p>No call ${request.params.id}.</p>`));
    const view = storedView(app, call);
    const timeline = eventsView(call, app.store.events(call.id)).map((e) => {
      const what =
        e.kind === 'status_callback'
          ? `Exotel: status ${firstPresent(e.params, ['Status', 'CallStatus']) ?? ''}${e.params.attempt ? ` (dial ${e.params.attempt})` : ''}`
          : e.kind === 'reconcile_lookup' || e.kind === 'details_lookup' || e.kind === 'calls_list_lookup'
            ? `${e.kind === 'calls_list_lookup' ? 'Calls list' : 'Call Details'}: status ${e.params.Status ?? ''}${e.params.Duration ? `, ${e.params.Duration} s` : ''}`
            : e.pressed !== null
              ? `Pressed ${e.pressed} at ${e.step}${e.note ? ` (${e.note})` : ''}`
              : e.kind === 'agent_leg_status'
                ? `Agent leg: ${e.params.DialCallStatus ?? ''}`
                : e.kind === 'withdrawn' || e.kind === 'withdraw_requested'
                  ? `Withdrawn by the backend${e.kind === 'withdraw_requested' ? ' while a dial was out' : ''}${e.params.reason ? `: ${e.params.reason}` : ''}`
                  : `Exotel asked ${e.route}${e.note ? ` (${e.note})` : ''}`;
      // What the vendor heard in answer: the question we asked, or the closing.
      const said = e.said ? html`<br><span class="said">We said: ${e.said}</span>` : '';
      return html`<tr><td>${e.at}</td><td>${what}${said}</td><td><code>${e.kind}</code></td></tr>`;
    });
    const attempts = view.attempts.map(
      (a) => html`<tr><td>${a.attempt}</td><td>${a.result}</td><td>${a.status ?? ''}</td><td><code>${a.call_sid ?? ''}</code></td><td>${a.requested_at}</td><td>${a.error ? `${a.error.code}: ${a.error.message}` : ''}</td></tr>`,
    );
    const delivery = view.delivery ? `${view.delivery.state} after ${view.delivery.tries} tries${view.delivery.last_error ? ` (last error ${view.delivery.last_error})` : ''}` : 'not settled yet';
    const recording = call.recordingUrl
      ? html`<audio id="recording" controls preload="none" src="/ops/calls/${call.id}/recording"></audio>`
      : html`<p>No recording.</p>`;
    const body = html`<table id="summary">
<tr><th>Order</th><td id="order">${call.orderId}</td></tr><tr><th>Flow</th><td>${call.flow}</td></tr>
<tr><th>Number</th><td>${call.phone}</td></tr><tr><th>Language</th><td>${view.language}</td></tr>
<tr><th>Status</th><td id="status">${call.status}</td></tr><tr><th>Outcome</th><td id="outcome" class="outcome">${call.outcome}</td></tr>
<tr><th>Values</th><td>${JSON.stringify(view.values)}</td></tr><tr><th>Keys pressed</th><td id="digits">${view.digits.map((d) => `${d.step}: ${d.digits}`).join(', ')}</td></tr>
<tr><th>Duration</th><td>${call.durationSeconds ?? ''}</td></tr><tr><th>Delivered to the backend</th><td id="delivery">${delivery}</td></tr></table>
<h2>Recording</h2>${recording}
<h2>Timeline</h2><table id="timeline"><tr><th>At</th><th>What</th><th>Kind</th></tr>${timeline}</table>
<h2>Attempts</h2><table id="attempts"><tr><th>#</th><th>Result</th><th>Status</th><th>CallSid</th><th>Requested</th><th>Error</th></tr>${attempts}</table>`;
    return sendHtml(reply, page(`Order ${call.orderId}`, body));
  });

  // The recording, fetched from Exotel with the API credentials (its URLs need Basic auth) and streamed. A
  // browser's <audio> asks for byte ranges (to seek; Safari plays nothing without them): passed on.
  app.get<{ Params: { id: string } }>('/ops/calls/:id/recording', async (request, reply) => {
    const call = callByKey(app, request.params.id);
    const target = (candidate: string) => recordingFetchUrl(app.config.exotel.apiBaseUrl, candidate);
    const url = call?.recordingUrl ? target(call.recordingUrl) : undefined;
    if (!call || !url) return reply.code(404).type('text/plain').send('No recording');
    const range = typeof request.headers.range === 'string' ? request.headers.range : undefined;
    const { apiKey, apiToken } = app.config.exotel;
    let upstream = await fetchRecording(url, range, `Basic ${Buffer.from(`${apiKey}:${apiToken}`).toString('base64')}`);
    const first = upstream?.statusCode;
    if (first !== undefined && first >= 400 && first < 500 && first !== 416 && call.exotelCallSid) {
      // Refused (an S3 bucket answers Basic auth with 400): Call Details' pre-signed URL needs no credentials (§2).
      await upstream!.body.dump();
      const signed = await presignedRecording(call.id, call.exotelCallSid);
      if (signed === 'rate_limited') {
        return reply.code(503).header('retry-after', '30').type('text/plain').send("Exotel's request allowance is in use (calls come first): try again in a minute");
      }
      const signedUrl = signed ? target(signed) : undefined;
      upstream = signedUrl ? await fetchRecording(signedUrl, range, undefined) : undefined;
      // Expired early (Exotel's clock), or refused: the next request asks Call Details afresh.
      if (upstream && upstream.statusCode !== 200 && upstream.statusCode !== 206 && upstream.statusCode !== 416) presigned.delete(call.id);
    }
    if (!upstream || (upstream.statusCode !== 200 && upstream.statusCode !== 206 && upstream.statusCode !== 416)) {
      await upstream?.body.dump();
      const status = upstream?.statusCode ?? first;
      request.log.warn({ call_id: call.id, order_id: call.orderId, upstream_status: status }, 'Recording not fetched from Exotel');
      return reply.code(502).type('text/plain').send(`Exotel did not give the recording${status ? ` (HTTP ${status})` : ''}`);
    }
    // Played on the /ops origin: always as audio, never as a page whatever the upstream says it is.
    const type = String(upstream.headers['content-type'] ?? '');
    reply.code(upstream.statusCode).type(/^audio\/[\w.+-]+$/.test(type) ? type : 'audio/mpeg').header('x-content-type-options', 'nosniff');
    for (const name of ['content-length', 'content-range', 'accept-ranges']) {
      const value = upstream.headers[name];
      if (typeof value === 'string') reply.header(name, value);
    }
    return reply.send(upstream.body);
  });
}

/** One GET of a recording URL, the browser's Range passed on; undefined when the host cannot be reached. */
function fetchRecording(url: string, range: string | undefined, authorization: string | undefined) {
  return httpRequest(url, {
    headers: { ...(authorization ? { authorization } : {}), ...(range ? { range } : {}) },
    headersTimeout: 10_000,
    bodyTimeout: 60_000,
  }).catch(() => undefined);
}

/**
 * The URL to fetch a recording from: as given when its host is allowed, or over https when only the https
 * form is (an Exotel or S3 URL given as http: never fetched in the clear with our credentials, never lost).
 */
export function recordingFetchUrl(apiBaseUrl: string, url: string): string | undefined {
  if (recordingHostAllowed(apiBaseUrl, url)) return url;
  const https = /^http:\/\//i.test(url) ? `https://${url.slice('http://'.length)}` : undefined;
  return https && recordingHostAllowed(apiBaseUrl, https) ? https : undefined;
}

/**
 * Only Exotel's recording hosts (or the simulator standing in for Exotel): never a URL of anyone's choosing,
 * since our Exotel credentials go with the request. S3 only path-style (s3[.-<region>].amazonaws.com) under
 * /exotelrecordings/, or the exotelrecordings bucket's own host: a bucket anyone can name "s3…" is neither.
 */
export function recordingHostAllowed(apiBaseUrl: string, url: string): boolean {
  let host: string;
  try {
    const parsed = new URL(url);
    if (!/^https?:$/.test(parsed.protocol)) return false;
    host = parsed.host;
    // The simulator (or a fake Exotel in tests) answers on EXOTEL_API_BASE_URL's own host.
    if (host === new URL(apiBaseUrl).host) return true;
    // Anything else only over https: our Exotel credentials go with the request.
    if (parsed.protocol !== 'https:') return false;
    if (/(^|\.)exotel\.(com|in)$/.test(host)) return true;
    // Exotel's recordings bucket (reference §2).
    if (/^exotelrecordings\.s3([.-][a-z0-9-]+)?\.amazonaws\.com$/.test(host)) return true;
    return /^s3([.-][a-z0-9-]+)?\.amazonaws\.com$/.test(host) && parsed.pathname.startsWith('/exotelrecordings/');
  } catch {
    return false;
  }
}

function sendHtml(reply: FastifyReply, text: string) {
  return reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(text);
}

