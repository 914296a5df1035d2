// Property-based fuzzing of every route with generated requests: valid, boundary, malformed and hostile.
// Whatever arrives: no 5xx, no crash; every ExoML answer is XML with a <Response> root; every applet answer
// is the JSON or text its applet expects; and a request without a valid secret changes nothing stored.
// The seed is printed: FUZZ_SEED=<seed> npm test replays a failure. FUZZ_RUNS scales the run.
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExoml } from '../../src/simulator/exoml-reader.js';
import { storedCall } from '../helpers/calls.js';
import { startHarness, type Harness } from '../helpers/harness.js';

const TOKEN = 'fuzz-test-api-token-0123456789abcdefgh';
const SECRET = 'fuzz-test-webhook-secret-0123456789abcd';
const APPLET = 'fuzz-test-applet-path-token-0123456789';
const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const runs = Number(process.env.FUZZ_RUNS ?? 12_000);
console.log(`fuzz seed ${seed}, ${runs} runs per property (replay: FUZZ_SEED=${seed} npm test)`);

let h: Harness;
let callIds: string[] = [];
beforeAll(async () => {
  h = await startHarness({ API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, APPLET_PATH_TOKEN: APPLET });
  callIds = [storedCall(h.app.store).id, storedCall(h.app.store, { transport: 'applet', exotelCallSid: 'fuzzsid000000000000000000000000001' }).id];
});
afterAll(async () => h.close());

/** Everything an unauthenticated request must not change. */
function snapshot(): string {
  const rows = (sql: string) => JSON.stringify(h.db.prepare(sql).all());
  return [
    rows('SELECT id, status, outcome, state_json, last_reply, asked_turn, exotel_call_sid, settled_at FROM calls ORDER BY id'),
    rows('SELECT call_id, number, result, status, exotel_call_sid FROM attempts ORDER BY id'),
    rows('SELECT COUNT(*) FROM call_events'),
    rows('SELECT COUNT(*) FROM outbox'),
    rows('SELECT COUNT(*) FROM idempotency_keys'),
    rows('SELECT COUNT(*) FROM exotel_requests'),
  ].join('|');
}

// Values: anything a byte string can be, percent-encoded, and the values that mean something to us.
const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join(''));
const meaningful = fc.constantFrom('1', '2', '3', '20', '999', '"1"', '""', 'None', 'null', '#', '1#', '-1', '0', 'completed', 'busy', 'in-progress', '', ' ', '%00', '%ff', 'call_x', '9000000001');
const text = fc.oneof(fc.string({ maxLength: 30 }).map(encodeURIComponent).filter(Boolean), bytes, meaningful);
const keys = fc.constantFrom(
  'call', 'turn', 'attempt', 'ts', 'sig', 'Digits', 'DigitsPressed', 'digits', 'CallSid', 'CustomField', 'Status', 'RecordingUrl',
  'ConversationDuration', 'EventType', 'Legs[0][Status]', 'vendor_phone', 'vendor_name', 'order_id', 'order_amount', 'items',
  'language', 'recall', 'include', '__proto__', 'constructor', 'x',
);
const query = fc.array(fc.tuple(keys, text), { maxLength: 8 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&'));
const segment = fc.oneof(fc.constantFrom('call_x', 'nosuchcall', APPLET, 'x'.repeat(70), '%00', '..', '%2e%2e'), fc.string({ maxLength: 12 }).map(encodeURIComponent));
const path = fc.oneof(
  fc.constantFrom('/exoml/vendor-greeting', '/exoml/vendor-action', '/exoml/vendor-processing-time', '/webhook/exotel/status', '/api/call/vendor-order', '/health'),
  segment.map((s) => `/exoml/${s}`),
  fc.tuple(fc.constantFrom(APPLET, 'not-the-token'), fc.constantFrom('gather', 'passthru', 'greeting')).map(([t, a]) => `/applet/${t}/${a}`),
  segment.map((s) => `/api/calls/${s}`),
  segment.map((s) => `/api/orders/${s}/calls`),
  segment.map((s) => `/${s}`),
);
const jsonBody = fc.jsonValue({ maxDepth: 3 }).map((v) => ({ type: 'application/json', payload: JSON.stringify(v) }));
const formBody = query.map((q) => ({ type: 'application/x-www-form-urlencoded', payload: q }));
const multipartBody = fc.array(fc.tuple(keys, fc.string({ maxLength: 20 })), { maxLength: 5 }).map((fields) => ({
  type: 'multipart/form-data; boundary=fuzz',
  payload: `${fields.map(([k, v]) => `--fuzz\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('')}--fuzz--\r\n`,
}));
const rawBody = fc.tuple(
  fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data', 'multipart/form-data; boundary=', 'application/json; charset=latin1', 'application/octet-stream', '', 'ünïcode/type'),
  fc.uint8Array({ maxLength: 200 }),
).map(([type, b]) => ({ type, payload: Buffer.from(b) }));
const body = fc.option(fc.oneof(jsonBody, formBody, multipartBody, rawBody), { nil: undefined });
const method = fc.constantFrom<'GET' | 'POST' | 'HEAD' | 'PUT'>('GET', 'POST', 'POST', 'HEAD', 'PUT');

async function send(m: 'GET' | 'POST' | 'HEAD' | 'PUT', url: string, b: { type: string; payload: string | Buffer } | undefined, headers: Record<string, string> = {}) {
  const options: InjectOptions = { method: m, url, headers: { ...headers } };
  if (b && m !== 'GET' && m !== 'HEAD') {
    options.payload = b.payload;
    if (b.type) options.headers!['content-type'] = b.type;
  }
  return h.app.inject(options);
}

/** What every answer must be, whoever sent the request. */
function checkAnswer(m: string, url: string, response: Awaited<ReturnType<typeof send>>): void {
  expect(response.statusCode, `${m} ${url}`).toBeLessThan(500);
  const route = url.split('?')[0]!;
  if (m === 'HEAD') return;
  // A path that only looks like ours ("/exoml/%2e%2e" is "/") is not found: a JSON 404.
  if (response.statusCode === 404) return;
  if (/^\/exoml\/[\w-]*$/.test(route)) {
    const read = readExoml(response.body);
    expect('error' in read ? read.error : 'ok', `${m} ${url}: ${response.body}`).toBe('ok');
  }
  const applet = /^\/applet\/[^/]+\/(gather|passthru|greeting)$/.exec(route)?.[1];
  if (applet === 'gather') {
    expect(response.headers['content-type']).toBe('application/json');
    const json = JSON.parse(response.body) as { gather_prompt?: { text?: string } };
    expect(typeof json.gather_prompt?.text).toBe('string');
  }
  if (applet === 'passthru' || applet === 'greeting') {
    expect(response.headers['content-type']).toBe('text/plain');
  }
  if (route.startsWith('/api/') && response.statusCode >= 400) {
    expect(JSON.parse(response.body)).toMatchObject({ success: false, code: expect.any(String) });
  }
}

describe('fuzzing every route', () => {
  it('requests without a valid secret: a safe answer and no change to anything stored', async () => {
    const before = snapshot();
    await fc.assert(
      fc.asyncProperty(method, path, query, body, fc.constantFrom('', 'Bearer wrong', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`), async (m, p, q, b, authorization) => {
        const url = q ? `${p}?${q}` : p;
        // The applet token in a path is a secret too: only the wrong one here.
        const unauthenticatedUrl = url.replace(`/applet/${APPLET}/`, '/applet/not-the-token/');
        const response = await send(m, unauthenticatedUrl, b, authorization ? { authorization } : {});
        checkAnswer(m, unauthenticatedUrl, response);
      }),
      { seed, numRuns: runs },
    );
    expect(snapshot()).toBe(before);
  }, 600_000);

  it('signed Exotel requests with hostile parameters and bodies: always a playable answer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(0, 1),
        fc.constantFrom('vendor-greeting', 'vendor-action', 'vendor-processing-time', 'status', 'gather', 'passthru', 'greeting'),
        fc.integer({ min: -1, max: 5 }),
        query,
        body,
        fc.constantFrom<'GET' | 'POST' | 'HEAD'>('GET', 'POST', 'HEAD'),
        async (which, route, turn, q, b, m) => {
          const callId = callIds[which]!;
          const base = ['gather', 'passthru', 'greeting'].includes(route)
            ? `/applet/${APPLET}/${route}?CallSid=fuzzsid000000000000000000000000001&`
            : `${new URL(route === 'status' ? h.app.links.statusCallback(callId, 1) : h.app.links.exomlStep(route, { call: callId, turn: String(turn) })).pathname}?${new URL(route === 'status' ? h.app.links.statusCallback(callId, 1) : h.app.links.exomlStep(route, { call: callId, turn: String(turn) })).searchParams}&`;
          const url = `${base}${q}`;
          checkAnswer(m, url, await send(m, url, b));
        },
      ),
      { seed, numRuns: runs },
    );
  }, 600_000);

  it('our API with the token and hostile input: 2xx or a 4xx JSON error, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<'GET' | 'POST'>('GET', 'POST'), path.filter((p) => p.startsWith('/api/')), query, body, async (m, p, q, b) => {
        const url = q ? `${p}?${q}` : p;
        checkAnswer(m, url, await send(m, url, b, { authorization: `Bearer ${TOKEN}` }));
      }),
      { seed, numRuns: Math.ceil(runs / 2) },
    );
  }, 600_000);
});
