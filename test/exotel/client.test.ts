// The Exotel client against a local fake that answers the way Exotel does when things go wrong, and the
// trigger API's answer to each failure (with the call row saying why).
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExotelClient } from '../../src/exotel/client.js';
import { freePort, order, startHarness, TEST_ACCOUNT, type Harness } from '../helpers/harness.js';

type Behaviour = (reply: import('fastify').FastifyReply, url: string) => unknown;
let behaviour: Behaviour;
const received: Array<{ url: string; authorization: string | undefined; body: string }> = [];
let fake: FastifyInstance;
let fakeUrl: string;

beforeAll(async () => {
  fake = Fastify({ logger: false, forceCloseConnections: true });
  fake.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_r, body, done) => done(null, body));
  fake.all('/*', async (request, reply) => {
    received.push({ url: request.url, authorization: request.headers.authorization, body: String(request.body ?? '') });
    return behaviour(reply, request.url);
  });
  fakeUrl = await fake.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => fake.close());

const client = (timeoutMs = 2000, apiBaseUrl = fakeUrl, events: string[] = []) =>
  new ExotelClient({ apiBaseUrl, ...TEST_ACCOUNT, callerId: '08000000000', statusCallbackEvents: events, httpTimeoutMs: timeoutMs });
const connectRequest = {
  from: '+919000000001',
  url: 'http://127.0.0.1:1/exoml/vendor-greeting?call=call_x',
  statusCallback: 'http://127.0.0.1:1/webhook/exotel/status?call=call_x',
  customField: 'call_x',
  ringTimeoutSeconds: 45,
  timeLimitSeconds: 300,
};

describe('ExotelClient', () => {
  it('posts a form to Calls/connect.json with a Basic header, literal bracket keys, and reads the Sid', async () => {
    behaviour = (reply) => reply.send({ Call: { Sid: 'abc123def456ghi789jkl012mno319cp', Status: 'in-progress', From: '09000000001', Duration: null } });
    received.length = 0;
    const placed = await client(2000, fakeUrl, ['terminal', 'answered']).connect(connectRequest);
    expect(placed).toMatchObject({ sid: 'abc123def456ghi789jkl012mno319cp', status: 'in-progress', from: '09000000001', duration: undefined });
    expect(received[0]!.url).toBe('/v1/Accounts/test-account/Calls/connect.json');
    expect(received[0]!.authorization).toBe(`Basic ${Buffer.from('test-key:test-token-not-a-secret').toString('base64')}`);
    expect(received[0]!.body).toBe(
      [
        'From=%2B919000000001',
        'CallerId=08000000000',
        `Url=${encodeURIComponent(connectRequest.url)}`,
        'CallType=trans',
        'TimeOut=45',
        'TimeLimit=300',
        'Record=true',
        `StatusCallback=${encodeURIComponent(connectRequest.statusCallback)}`,
        'CustomField=call_x',
        'StatusCallbackEvents[0]=terminal',
        'StatusCallbackEvents[1]=answered',
      ].join('&'),
    );
  });

  it('a 401 RestException becomes EXOTEL_ERR_REST with Exotel\'s message and code', async () => {
    behaviour = (reply) => reply.code(401).send({ RestException: { Status: 401, Message: 'Unauthorized; ', Code: 34010 } });
    await expect(client().connect(connectRequest)).rejects.toMatchObject({
      code: 'EXOTEL_ERR_REST',
      statusCode: 502,
      httpStatus: 401,
      exotelCode: '34010',
      exotelMessage: 'Unauthorized;',
    });
  });

  it('reads XML and plain-text error bodies too', async () => {
    behaviour = (reply) =>
      reply.code(403).type('application/xml').send('<TwilioResponse><RestException><Status>403</Status><Message>Call to [09000000001] cannot be made because of TRAI NDNC regulations</Message></RestException></TwilioResponse>');
    await expect(client().connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_REST', httpStatus: 403, exotelMessage: 'Call to [09000000001] cannot be made because of TRAI NDNC regulations' });
    behaviour = (reply) => reply.code(400).type('text/plain').send('Bad parameters');
    await expect(client().connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_REST', httpStatus: 400, exotelMessage: 'Bad parameters' });
  });

  it('429 becomes EXOTEL_ERR_RATE_LIMITED with Retry-After', async () => {
    behaviour = (reply) => reply.code(429).header('retry-after', '7').send({ RestException: { Status: 429, Message: 'Too many requests' } });
    await expect(client().connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_RATE_LIMITED', retryAfterSeconds: 7, statusCode: 503 });
  });

  it('500 becomes EXOTEL_ERR_SERVER', async () => {
    behaviour = (reply) => reply.code(500).send('oops');
    await expect(client().connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_SERVER', statusCode: 502 });
  });

  it('no answer in time becomes EXOTEL_ERR_TIMEOUT (the call may exist), within the bound', async () => {
    behaviour = () => new Promise(() => {});
    const started = Date.now();
    await expect(client(300).connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_TIMEOUT', statusCode: 504 });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a refused connection becomes EXOTEL_ERR_UNREACHABLE (nothing was created)', async () => {
    const closedPort = await freePort();
    await expect(client(1000, `http://127.0.0.1:${closedPort}`).connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_UNREACHABLE', statusCode: 503 });
  });

  it('a 200 without a Call Sid becomes EXOTEL_ERR_BAD_RESPONSE', async () => {
    behaviour = (reply) => reply.send({ Call: { Sid: 'None' } });
    await expect(client().connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_BAD_RESPONSE' });
    behaviour = (reply) => reply.type('text/html').send('<html>maintenance</html>');
    await expect(client().connect(connectRequest)).rejects.toMatchObject({ code: 'EXOTEL_ERR_BAD_RESPONSE' });
  });

  it('reads Call Details, with Duration as a string', async () => {
    behaviour = (reply) => reply.send({ Call: { Sid: 'sid-1', Status: 'completed', Duration: '17', RecordingUrl: 'https://recordings.example.test/1.mp3' } });
    received.length = 0;
    await expect(client().callDetails('sid-1')).resolves.toMatchObject({ sid: 'sid-1', status: 'completed', duration: 17, recordingUrl: 'https://recordings.example.test/1.mp3' });
    expect(received[0]!.url).toBe('/v1/Accounts/test-account/Calls/sid-1.json');
  });
});

describe('the trigger API when Exotel fails', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ EXOTEL_API_BASE_URL: fakeUrl, EXOTEL_HTTP_TIMEOUT_MS: '300', DISPATCH_MAX_RETRIES: '3' });
  });
  afterAll(async () => h.close());
  const connects = () => received.filter((r) => r.url.endsWith('/Calls/connect.json')).length;

  it('a 4xx RestException is final: 502 with Exotel\'s words, settled not_reached, never retried', async () => {
    behaviour = (reply) => reply.code(401).send({ RestException: { Status: 401, Message: 'Unauthorized; ', Code: 34010 } });
    received.length = 0;
    const response = await h.trigger(order({ order_id: 'ORD-FAIL-401', vendor_phone: '9000111401' }));
    expect(response.status).toBe(502);
    expect(response.body).toEqual({
      success: false,
      code: 'EXOTEL_ERR_REST',
      reason: 'exotel_refused',
      message: 'Exotel refused the request: Unauthorized;',
      order_id: 'ORD-FAIL-401',
      call_id: expect.any(String),
    });
    const call = await h.settled(response.body.call_id);
    expect(call).toMatchObject({
      status: 'failed',
      outcome: 'not_reached',
      call_sid: null,
      failure: { code: 'EXOTEL_ERR_REST', reason: 'exotel_refused', message: 'Exotel refused the request: Unauthorized;' },
      attempts: [{ attempt: 1, result: 'failed', error: { code: 'EXOTEL_ERR_REST' } }],
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(connects()).toBe(1);
  });

  it('the DND rejection ends the call as not_reached with reason dnd', async () => {
    behaviour = (reply) => reply.code(403).send({ RestException: { Status: 403, Message: 'Call to [09000000001] cannot be made because of TRAI NDNC regulations' } });
    const response = await h.trigger(order({ order_id: 'ORD-FAIL-DND', vendor_phone: '9000111501' }));
    expect(response.body).toMatchObject({ success: false, code: 'EXOTEL_ERR_REST', reason: 'dnd' });
    expect(await h.settled(response.body.call_id)).toMatchObject({ outcome: 'not_reached', failure: { reason: 'dnd' } });
  });

  // A Calls list that says no call was placed, and Connect failing as given.
  const listEmptyElse = (answer: (reply: import('fastify').FastifyReply) => unknown): Behaviour => (reply, url) =>
    url.includes('/Calls.json?') ? reply.send({ Calls: [] }) : answer(reply);

  it.each([
    // The last 500 too is looked up, and the list shows it placed nothing.
    ['a 500 (maybe created: verified first)', listEmptyElse((reply) => reply.code(500).send('')), 'EXOTEL_ERR_SERVER', 'verifying', '9000111101', 'not_placed'],
    ['a 429', listEmptyElse((reply) => reply.code(429).send('')), 'EXOTEL_ERR_RATE_LIMITED', 'retry', '9000111201', 'failed'],
  ] as const)('%s: 202, dialled again after a backoff, then not_reached as exotel_unavailable', async (_name, answer, code, reason, phone, last) => {
    behaviour = answer;
    received.length = 0;
    const response = await h.trigger(order({ order_id: `ORD-FAIL-${code}`, vendor_phone: phone }));
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ success: true, status: reason === 'verifying' ? 'verifying' : 'queued', reason, last_error: { code }, scheduled_for: expect.any(String) });
    const call = await h.settled(response.body.call_id);
    expect(call).toMatchObject({ status: 'failed', outcome: 'not_reached', failure: { code, reason: 'exotel_unavailable' } });
    // The first try and DISPATCH_MAX_RETRIES more, each a new attempt that placed nothing.
    expect(call.attempts.map((a: { result: string }) => a.result)).toEqual(['not_placed', 'not_placed', 'not_placed', last]);
    expect(connects()).toBe(4);
    if (code === 'EXOTEL_ERR_RATE_LIMITED') {
      // The last 429 still holds every request back, though this call gave up: Exotel asked us to slow down.
      expect(h.app.ledger.pausedUntil(new Date())).toBeInstanceOf(Date);
      h.db.prepare("DELETE FROM service_state WHERE key = 'exotel_paused_until'").run();
    }
  });

  it('a timeout is ambiguous: 202 verifying; while Exotel cannot confirm the vendor is never dialled again, then not_reached (unverified)', async () => {
    behaviour = () => new Promise(() => {});
    received.length = 0;
    const response = await h.trigger(order({ order_id: 'ORD-FAIL-TIMEOUT', vendor_phone: '9000111301' }));
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ success: true, status: 'verifying', reason: 'verifying', last_error: { code: 'EXOTEL_ERR_TIMEOUT' } });
    const call = await h.settled(response.body.call_id);
    expect(call).toMatchObject({ status: 'failed', outcome: 'not_reached', failure: { reason: 'unverified' }, attempts: [{ attempt: 1, result: 'unknown' }] });
    expect(connects()).toBe(1);
    // The first lookup and DISPATCH_MAX_RETRIES more.
    expect(received.filter((r) => r.url.startsWith('/v1/Accounts/test-account/Calls.json?'))).toHaveLength(4);
  });
});

describe('the simulator as Exotel', () => {
  it('rejects percent-encoded StatusCallbackEvents brackets, as Exotel was seen to', async () => {
    const h = await startHarness();
    try {
      const { request } = await import('undici');
      const response = await request(`${h.simulator.url}/v1/Accounts/test-account/Calls/connect.json`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('test-key:test-token-not-a-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'From=09000000001&CallerId=08000000000&Url=http%3A%2F%2F127.0.0.1%2Fx&StatusCallbackEvents%5B0%5D=terminal',
      });
      expect(response.statusCode).toBe(400);
      expect(await response.body.json()).toEqual({ RestException: { Status: 400, Message: "Invalid Call Parameters: Invalid 'StatusCallbackEvents' specified", Code: 34005 } });
    } finally {
      await h.close();
    }
  });

  it('answers Calls/connect without .json in XML, as Exotel does by default', async () => {
    const h = await startHarness();
    try {
      const { request } = await import('undici');
      const response = await request(`${h.simulator.url}/v1/Accounts/test-account/Calls/connect`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('test-key:test-token-not-a-secret').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'From=09000000007&CallerId=08000000000&Url=http%3A%2F%2F127.0.0.1%3A1%2Fx',
      });
      const xml = await response.body.text();
      expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><TwilioResponse><Call><Sid>sim[0-9a-f]{28}<\/Sid><ParentCallSid><\/ParentCallSid>/);
      expect(xml).toContain('<From>09000000007</From><PhoneNumberSid>08000000000</PhoneNumberSid>');
    } finally {
      await h.close();
    }
  });

  it('with StatusCallbackEvents=terminal the callback carries the extended fields, and a whole call completes', async () => {
    const h = await startHarness({ EXOTEL_STATUS_CALLBACK_EVENTS: 'terminal' });
    try {
      const placed = await h.trigger(order({ vendor_phone: '9000000002' }));
      const call = await h.simulator.finished(placed.body.call_sid);
      expect(call.statusCallbackEvents).toEqual(['terminal']);
      expect(call.callbacks[0]!.params).toMatchObject({ EventType: 'terminal', CustomField: placed.body.call_id, 'Legs[0][Status]': 'completed' });
      expect(await h.settled(placed.body.call_sid)).toMatchObject({ outcome: 'cancelled', status: 'completed' });
    } finally {
      await h.close();
    }
  });
});
