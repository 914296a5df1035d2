// What an attacker with network access but no secret can do: nothing. Production refuses to boot open;
// signed URLs expire, survive a rotation and cannot be moved; Exotel's routes answer only Exotel's
// networks when told to; the API limits each token and dials only allowed numbers.
import { createHmac } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { Links } from '../../src/links.js';
import { storedCall } from '../helpers/calls.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const TOKEN = 'security-test-api-token-0123456789abcdef';
const SECRET = 'security-test-webhook-secret-0123456789ab';
const auth = { authorization: `Bearer ${TOKEN}` };

describe('production refuses every open configuration', () => {
  const base = { NODE_ENV: 'production' };
  it.each([
    [{}, 'API_TOKEN is required when NODE_ENV=production; WEBHOOK_SECRET is required when NODE_ENV=production'],
    [{ API_TOKEN: TOKEN }, 'WEBHOOK_SECRET is required when NODE_ENV=production'],
    [{ WEBHOOK_SECRET: SECRET }, 'API_TOKEN is required when NODE_ENV=production'],
    [{ API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, EXOTEL_FLOW_MODE: 'applet' }, 'APPLET_PATH_TOKEN is required when NODE_ENV=production'],
    [{ API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, EXOTEL_FLOW_MODE: 'voicebot', PROMPTS_DIR: '/prompts' }, 'APPLET_PATH_TOKEN is required when NODE_ENV=production'],
    [{ API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, OUTCOME_WEBHOOK_URL: 'https://backend.example.test/outcomes' }, 'OUTCOME_WEBHOOK_SECRET is required with OUTCOME_WEBHOOK_URL when NODE_ENV=production'],
    [{ API_TOKEN: 'short-token', WEBHOOK_SECRET: SECRET }, 'API_TOKEN must be at least 32 characters'],
    [{ API_TOKEN: TOKEN, WEBHOOK_SECRET: 'short' }, 'WEBHOOK_SECRET must be at least 32 characters'],
    [{ API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, WEBHOOK_SECRET_PREVIOUS: 'old' }, 'WEBHOOK_SECRET_PREVIOUS must be at least 32 characters'],
    [{ API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, EXOTEL_FLOW_MODE: 'applet', APPLET_PATH_TOKEN: 'abc' }, 'APPLET_PATH_TOKEN must be 32 to 128 letters, digits, - or _'],
  ])('%j', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });

  it('boots with every secret set', () => {
    expect(loadConfig({ ...base, API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET }).apiToken).toBe(TOKEN);
    expect(loadConfig({ ...base, API_TOKEN: TOKEN, WEBHOOK_SECRET: SECRET, OUTCOME_WEBHOOK_URL: 'https://backend.example.test/outcomes', OUTCOME_WEBHOOK_SECRET: 'o'.repeat(32) }).outcome.webhookSecret).toBe('o'.repeat(32));
  });

  it('refuses an agent key that a menu already uses', () => {
    expect(() => loadConfig({ AGENT_NUMBER: '+919000000020', AGENT_KEY: '9' })).toThrow('AGENT_KEY must not be a key the menus use (1, 2, 3, 9)');
    expect(loadConfig({ AGENT_NUMBER: '+919000000020' }).agent).toEqual({ number: '+919000000020', key: '0', ringTimeoutSeconds: 30 });
  });

  it('refuses short secrets outside production too', () => {
    expect(() => loadConfig({ API_TOKEN: 'x'.repeat(31) })).toThrow('API_TOKEN must be at least 32 characters');
  });
});

describe('signed URLs', () => {
  let t = new Date('2026-11-22T06:00:00.000Z').getTime();
  const now = () => new Date(t);
  const policy = { flowUrlMaxAgeSeconds: 1_000, statusUrlMaxAgeSeconds: 86_400, now };
  const query = (url: string) => Object.fromEntries(new URL(url).searchParams);

  it('carry the issue time, and expire after the call could have ended', () => {
    const links = new Links('https://caller.example.test', SECRET, policy);
    const step = links.exomlStep('vendor-action', { call: 'call_a', turn: '1' });
    expect(query(step)).toEqual({ call: 'call_a', turn: '1', ts: String(t / 1000), sig: expect.stringMatching(/^[\w-]{43}$/) });
    expect(links.check('/exoml/vendor-action', query(step))).toBe('ok');
    t += 1_001_000;
    expect(links.check('/exoml/vendor-action', query(step))).toBe('expired');
    // A status callback URL lives a day: Exotel delays and retries callbacks.
    t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const status = links.statusCallback('call_a', 1);
    t += 86_000_000;
    expect(links.check('/webhook/exotel/status', query(status))).toBe('ok');
  });

  it('refuse a moved issue time, a forged future time, another secret; accept the previous secret during a rotation', () => {
    t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const old = new Links('https://caller.example.test', 'previous-webhook-secret-0123456789abcdef', policy);
    const step = query(old.exomlStep('vendor-action', { call: 'call_a', turn: '1' }));
    const rotated = new Links('https://caller.example.test', SECRET, { ...policy, previousSecret: 'previous-webhook-secret-0123456789abcdef' });
    const unrelated = new Links('https://caller.example.test', SECRET, policy);
    expect(rotated.check('/exoml/vendor-action', step)).toBe('ok');
    expect(unrelated.check('/exoml/vendor-action', step)).toBe('bad_signature');
    expect(rotated.check('/exoml/vendor-action', { ...step, ts: String(Number(step.ts) + 500) })).toBe('bad_signature');
    const future = new Links('https://caller.example.test', SECRET, { ...policy, now: () => new Date(t + 3_600_000) });
    expect(rotated.check('/exoml/vendor-action', query(future.exomlStep('vendor-action', { call: 'call_a', turn: '1' })))).toBe('expired');
    expect(rotated.check('/exoml/vendor-action', { call: 'call_a', turn: '1' })).toBe('unsigned');
  });

  it('keep the form that URLs already handed to Exotel were signed in (URLSearchParams), whatever the values hold', () => {
    t = new Date('2026-11-22T06:00:00.000Z').getTime();
    const links = new Links('https://caller.example.test', SECRET, policy);
    // Signed as the first release did: our parameters in order, encoded by URLSearchParams, HMAC-SHA256.
    const signedBefore = (path: string, own: Array<[string, string]>) => {
      const canonical = new URLSearchParams(own).toString();
      return `${path}?${canonical}&sig=${createHmac('sha256', SECRET).update(`${path}?${canonical}`).digest('base64url')}`;
    };
    const ts = String(t / 1000);
    for (const call of ['call_Ab-9_x.*', 'call~tilde', "call!'()", 'call with space', 'call+plus/slash&amp;é']) {
      const before = signedBefore('/exoml/vendor-action', [['call', call], ['turn', '2'], ['ts', ts]]);
      expect(links.check('/exoml/vendor-action', query(`https://caller.example.test${before}`))).toBe('ok');
      expect(links.exomlStep('vendor-action', { call, turn: '2' })).toBe(`https://caller.example.test${before}`);
    }
  });
});

describe('the running server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      API_TOKEN: TOKEN,
      WEBHOOK_SECRET: SECRET,
      API_RATE_LIMIT_PER_MINUTE: '5',
      DIAL_ALLOWLIST: '+919000,+918000',
      EXOTEL_ALLOWED_CIDRS: '127.0.0.0/8,::1/128',
    });
  });
  afterAll(async () => h.close());

  it('limits each API token: 429 with Retry-After and a JSON error', async () => {
    const statuses: number[] = [];
    let last: { status: number; retryAfter: string | undefined; body: unknown } | undefined;
    for (let i = 0; i < 7; i++) {
      const response = await request(`${h.baseUrl}/api/calls/nosuchcall`, { headers: auth });
      statuses.push(response.statusCode);
      last = { status: response.statusCode, retryAfter: response.headers['retry-after'] as string | undefined, body: await response.body.json() };
    }
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429]);
    expect(last!.retryAfter).toMatch(/^\d+$/);
    expect(last!.body).toEqual({ success: false, code: 'IVR_ERR_RATE_LIMITED', message: expect.stringMatching(/^Too many requests: at most 5 a minute/) });
  });

  it('dials only numbers in DIAL_ALLOWLIST', async () => {
    const other = await startHarness({ API_TOKEN: TOKEN, DIAL_ALLOWLIST: '+918000' });
    try {
      const refused = await other.trigger(order({ vendor_phone: '9000000001' }), auth);
      expect(refused).toEqual({
        status: 403,
        body: { success: false, code: 'IVR_ERR_NUMBER_NOT_ALLOWED', field: 'vendor_phone', message: 'vendor_phone is not in DIAL_ALLOWLIST' },
      });
      expect(other.simulator.calls.size).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('Exotel-facing routes answer only EXOTEL_ALLOWED_CIDRS, reading the client through TRUST_PROXY', async () => {
    const proxied = await startHarness({ WEBHOOK_SECRET: SECRET, EXOTEL_ALLOWED_CIDRS: '203.0.113.0/24', TRUST_PROXY: '1' });
    try {
      const call = storedCall(proxied.app.store);
      const url = new URL(proxied.app.links.exomlStep('vendor-action', { call: call.id, turn: '1' }));
      const send = (forwardedFor?: string) =>
        request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) }, body: 'Digits=2' });
      const outside = await send('198.51.100.7');
      expect(outside.statusCode).toBe(403);
      expect(await outside.body.text()).toContain('<Hangup/>');
      expect(proxied.app.store.get(call.id)).toMatchObject({ outcome: 'pending' });
      // A percent-encoded path is the same route and the same refusal.
      const encoded = await request(url.toString().replace('/exoml/', '/%65xoml/'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.7' }, body: 'Digits=2' });
      expect(encoded.statusCode).toBe(403);
      await encoded.body.dump();
      const direct = await send();
      expect(direct.statusCode).toBe(403);
      await direct.body.dump();
      const inside = await send('203.0.113.9');
      expect(inside.statusCode).toBe(200);
      await inside.body.dump();
      expect(proxied.app.store.get(call.id)).toMatchObject({ outcome: 'cancelled' });
    } finally {
      await proxied.close();
    }
  });

  it('read-back needs the token, and refuses odd keys', async () => {
    const fresh = await startHarness({ API_TOKEN: TOKEN });
    try {
      expect((await fresh.get('/api/calls/anything')).status).toBe(401);
      expect((await fresh.get('/api/orders/anything/calls')).status).toBe(401);
      expect(await fresh.get(`/api/calls/${'x'.repeat(65)}`, auth)).toEqual({
        status: 400,
        body: { success: false, code: 'IVR_ERR_VALIDATION', field: 'call_sid', message: 'call_sid must be 1 to 64 printable characters' },
      });
      expect((await fresh.get('/api/orders/%01bad/calls', auth)).body).toMatchObject({ code: 'IVR_ERR_VALIDATION', field: 'order_id' });
    } finally {
      await fresh.close();
    }
  });
});

describe('the trigger API refuses what it cannot trust', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ API_TOKEN: TOKEN });
  });
  afterAll(async () => h.close());
  const post = (path: string, body: string | undefined, type?: string) =>
    request(`${h.baseUrl}${path}`, { method: 'POST', headers: { ...auth, ...(type ? { 'content-type': type } : {}) }, ...(body === undefined ? {} : { body }) }).then(async (r) => ({
      status: r.statusCode,
      body: (await r.body.json()) as Record<string, unknown>,
    }));

  it('a field given twice', async () => {
    expect(await post('/api/call/vendor-order?vendor_phone=9000000001&vendor_phone=9000000002&vendor_name=A&order_id=1&order_amount=1', undefined)).toEqual({
      status: 400,
      body: { success: false, code: 'IVR_ERR_VALIDATION', field: 'vendor_phone', message: 'vendor_phone must be given once' },
    });
  });

  it('text that is not UTF-8', async () => {
    const body = Buffer.concat([Buffer.from('{"vendor_phone":"9000000001","vendor_name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('","order_id":"1","order_amount":1}')]);
    const response = await request(`${h.baseUrl}/api/call/vendor-order`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    expect(response.statusCode).toBe(400);
    expect(await response.body.json()).toEqual({ success: false, code: 'IVR_ERR_VALIDATION', field: 'vendor_name', message: 'vendor_name must be valid UTF-8 text' });
  });

  it('a body of another type', async () => {
    expect(await post('/api/call/vendor-order', 'vendor_phone=9000000001', 'text/plain')).toEqual({
      status: 415,
      body: { success: false, code: 'IVR_ERR_UNSUPPORTED_MEDIA_TYPE', message: 'Send JSON, a form body or query parameters' },
    });
  });

  it('a body over the limit', async () => {
    const response = await post('/api/call/vendor-order', JSON.stringify({ items: 'x'.repeat(20_000) }), 'application/json');
    expect(response).toMatchObject({ status: 413, body: { success: false, code: 'FST_ERR_CTP_BODY_TOO_LARGE' } });
  });

  it('nothing was stored or dialled by any of it', () => {
    expect(h.app.store.byOrder('1')).toEqual([]);
    expect(h.simulator.calls.size).toBe(0);
  });
});
