// The ops CLI against a real database and a running server: the same answers as /ops, exit codes, --json.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { settle } from '../../src/calls/settle.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { storedCall } from '../helpers/calls.js';
import { order, startHarness, type Harness } from '../helpers/harness.js';

const SECRET = 'cli-test-webhook-secret-0123456789abcdef';
let h: Harness;
let callId: string;
beforeAll(async () => {
  h = await startHarness({ WEBHOOK_SECRET: SECRET });
  const placed = await h.trigger(order({ order_id: 'CLI-1', vendor_phone: '9000000003' }));
  callId = placed.body.call_id;
  await h.settled(callId);

});
afterAll(async () => h.close());

const cli = (...args: string[]) => cliWith({}, ...args);

function cliWith(env: Record<string, string>, ...args: string[]) {
  const run = spawnSync(process.execPath, ['bin/exotel-caller.mjs', ...args], {
    env: { PATH: process.env.PATH, DATABASE_PATH: h.config.databasePath, WEBHOOK_SECRET: SECRET, PUBLIC_BASE_URL: h.baseUrl, DOTENV_CONFIG_PATH: '/nonexistent/.env', ...env },
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

/** Without blocking this process: the server the CLI talks to runs in it. */
function cliAsync(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return cliAsyncWith({}, ...args);
}

function cliAsyncWith(env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/exotel-caller.mjs', ...args], {
      env: { PATH: process.env.PATH, DATABASE_PATH: h.config.databasePath, DOTENV_CONFIG_PATH: '/nonexistent/.env', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('npx exotel-caller', () => {
  it('calls show <order_id>: the timeline, as text and as JSON', () => {
    const text = cli('calls', 'show', 'CLI-1');
    expect(text.code).toBe(0);
    expect(text.out).toContain('status completed  outcome accepted');
    expect(text.out).toContain('pressed 3 at menu');
    expect(text.out).toMatch(/Z {2}status completed \(dial 1\)\n/);
    expect(text.out).toContain('pressed 20 at prep_time\n      said: तैयारी का समय 20 मिनट सेट हो गया है। ऑर्डर कन्फ़र्म हो गया। धन्यवाद!\n');
    // By the number, whole or its last digits, as /ops finds it.
    for (const number of ['000003', '+919000000003']) expect(cli('calls', 'show', number).out, number).toContain('CLI-1  vendor_order  +919000000003');
    // Always a list, one call or several, so `jq '.[0].outcome'` works whether the order was called again or not.
    const json = cli('calls', 'show', callId, '--json');
    expect(JSON.parse(json.out)).toMatchObject([{ call_id: callId, outcome: 'accepted', prep_time_minutes: 20, digits: [{ step: 'menu', digits: '3' }, { step: 'prep_time', digits: '20' }] }]);
  });

  it('calls list --since --outcome, outbox list', () => {
    expect(JSON.parse(cli('calls', 'list', '--since', '1h', '--outcome', 'accepted', '--json').out).map((c: { call_id: string }) => c.call_id)).toEqual([callId]);
    expect(JSON.parse(cli('calls', 'list', '--since', '1h', '--outcome', 'no_response', '--json').out)).toEqual([]);
    // The same names as the read-back's delivery.
    expect(JSON.parse(cli('outbox', 'list', '--json').out)).toEqual([
      {
        event_id: `outcome_${callId}`,
        call_id: callId,
        state: 'not_configured',
        tries: 0,
        last_error: null,
        created_at: expect.any(String),
        due_at: null,
        delivered_at: null,
        dead_at: null,
        payload: expect.objectContaining({ event_id: `outcome_${callId}`, outcome: 'accepted' }),
      },
    ]);
  });

  it('calls show: a bare # is shown as pressed, with what we said to it', async () => {
    // Silent twice, a bare #, then 1.
    await h.settled((await h.trigger(order({ order_id: 'CLI-HASH', vendor_phone: '9000000016' }))).body.call_id);
    const hash = cli('calls', 'show', 'CLI-HASH');
    expect(hash.out).toMatch(/exotel_request \/exoml\/vendor-action\n {6}said: हमें आपका जवाब नहीं मिला।/);
    expect(hash.out).toMatch(/pressed # at menu\n {6}said: हमें आपका जवाब नहीं मिला। ऑर्डर स्वीकार करने के लिए 1 दबाएं।/);
    expect(hash.out).toContain('pressed 1 at menu\n      said: धन्यवाद! ऑर्डर स्वीकार हो गया है।');
  });

  it('sign-url gives a URL the server accepts', async () => {
    const signed = cli('sign-url', `/exoml/vendor-action?call=${callId}&turn=9`).out.trim();
    expect(signed).toMatch(/&sig=/);
    expect(h.app.links.check('/exoml/vendor-action', Object.fromEntries(new URL(signed).searchParams))).toBe('ok');
    // Exotel's own parameters ride along unsigned: support curls the keys a vendor pressed.
    const waiting = storedCall(h.app.store).id;
    // Re-signing a URL copied from a timeline: its old ts and sig are replaced, not kept beside the new ones.
    const withKeys = cli('sign-url', `/exoml/vendor-action?call=${waiting}&turn=1&ts=1796360000&sig=old&Digits=2`).out.trim();
    expect(new URL(withKeys).searchParams.getAll('ts')).toHaveLength(1);
    expect(withKeys).toMatch(/&sig=[^&]+&Digits=2$/);
    const { pathname, search } = new URL(withKeys);
    const answer = await request(`${h.baseUrl}${pathname}${search}`);
    expect(answer.statusCode).toBe(200);
    await answer.body.dump();
    expect(h.app.store.get(waiting)).toMatchObject({ state: { outcome: 'cancelled' } });
  });

  it('simulate places a call through the running server and prints what was pressed', async () => {
    const run = await cliAsync('simulate', '--phone', '9000000002', '--server', h.baseUrl);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('outcome cancelled');
    expect(run.out).toContain('pressed 2 at menu');
  });

  it('simulate refuses a server whose calls ring real phones, unless --live', async () => {
    const placed: string[] = [];
    const live = createServer((req, res) => {
      if (req.url === '/health') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'healthy', exotel: 'live' }));
      placed.push(`${req.method} ${req.url}`);
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ success: false, message: 'not today' }));
    });
    await new Promise<void>((resolve) => live.listen(0, '127.0.0.1', resolve));
    const server = `http://127.0.0.1:${(live.address() as AddressInfo).port}`;
    try {
      const refused = await cliAsync('simulate', '--phone', '9000000003', '--server', server);
      expect(refused.code).toBe(1);
      expect(refused.err).toContain('this would ring a real phone. Add --live if you mean it.');
      expect(placed).toEqual([]);
      // With --live the request goes (this fake server refuses it).
      const meant = await cliAsync('simulate', '--phone', '9000000003', '--server', server, '--live');
      expect(meant).toMatchObject({ code: 1, err: 'the server refused: not today\n' });
      expect(placed).toEqual(['POST /api/call/vendor-order']);
    } finally {
      live.close();
    }
  });

  it("simulate steps back when the API's rate limit (the backend's too) says so, and goes on", async () => {
    const reads: number[] = [];
    const settledCall = {
      order_id: 'SIM-1', flow: 'vendor_order', vendor_phone: '+919000000003', call_id: 'call_fake', call_sid: 'sidfake', status: 'completed',
      outcome: 'accepted', language: 'hi-IN', values: {}, scheduled_for: null, delivery: null, recording_url: null, attempts: [], events: [],
      settled_at: '2026-12-04T00:00:00.000Z',
    };
    const fake = createServer((req, res) => {
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      if (req.url === '/health') return json(200, { status: 'healthy', exotel: 'simulator' });
      if (req.url === '/api/call/vendor-order') return json(202, { success: true, call_id: 'call_fake' });
      reads.push(Date.now());
      if (reads.length === 1) return json(429, { success: false, code: 'IVR_ERR_RATE_LIMITED' }, { 'retry-after': '1' });
      return json(200, { success: true, call: settledCall });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const run = await cliAsync('simulate', '--phone', '9000000003', '--server', `http://127.0.0.1:${(fake.address() as AddressInfo).port}`);
      expect(run).toMatchObject({ code: 0, err: '' });
      expect(run.out).toContain('status completed  outcome accepted');
      expect(reads).toHaveLength(2);
      expect(reads[1]! - reads[0]!).toBeGreaterThanOrEqual(950);
    } finally {
      fake.close();
    }
  });

  it('simulate waits through redials, and says when a queued call will go instead of waiting for it; calls withdraw withdraws it', async () => {
    // Busy, then redialled twice: not_reached, as the README's table says.
    const busy = await cliAsync('simulate', '--phone', '9000000007', '--server', h.baseUrl);
    expect(busy.code, busy.err).toBe(0);
    expect(busy.out).toMatch(/status busy {2}outcome not_reached/);
    expect(busy.out.match(/attempt \d: placed busy/g)).toHaveLength(3);
    // Outside calling hours the call waits for tomorrow: the CLI says so at once. Without the API token, the
    // refusal says where the CLI takes it from.
    const ist = new Date(Date.now() + 5.5 * 3_600_000 + 6 * 3_600_000);
    const at = (d: Date) => d.toISOString().slice(11, 16);
    const closed = await startHarness({ API_TOKEN: 'cli-test-api-token-0123456789abcdef', CALLING_WINDOW: `${at(ist)}-${at(new Date(ist.getTime() + 3_600_000))}` });
    try {
      const refused = await cliAsync('simulate', '--phone', '9000000001', '--server', closed.baseUrl);
      expect(refused).toMatchObject({ code: 1, err: 'the server refused: Missing or invalid bearer token (the CLI sends API_TOKEN from its environment or .env)\n' });
      const queued = await cliAsyncWith({ API_TOKEN: 'cli-test-api-token-0123456789abcdef' }, 'simulate', '--phone', '9000000001', '--server', `${closed.baseUrl}/`);
      expect(queued.code).toBe(1);
      expect(queued.err).toMatch(/^call call_\S+ is queued until \S+Z \(.+\): not waiting; see `exotel-caller calls show call_\S+` then\n$/);
      expect(closed.simulator.calls.size).toBe(0);
      // calls show says when it goes.
      const id = /call (call_\S+) is queued/.exec(queued.err)![1]!;
      const shown = cliWith({ DATABASE_PATH: closed.config.databasePath }, 'calls', 'show', id);
      expect(shown.out).toContain(`next dial at ${closed.app.store.get(id)!.dispatchDueAt}\n`);
      // The vendor rang to say they are closed today: ops withdraw the call, and it will not ring tomorrow.
      const token = { API_TOKEN: 'cli-test-api-token-0123456789abcdef' };
      const orderId = closed.app.store.get(id)!.orderId;
      const withdrawn = await cliAsyncWith(token, 'calls', 'withdraw', id, '--reason', 'vendor closed today', '--server', closed.baseUrl);
      expect(withdrawn).toEqual({ code: 0, out: `call ${id} (order ${orderId}) withdrawn: it will not be dialled\n`, err: '' });
      expect(closed.app.store.get(id)).toMatchObject({ outcome: 'withdrawn', dispatchDueAt: null });
      expect(closed.app.store.events(id).find((e) => e.kind === 'withdrawn')!.params).toEqual({ reason: 'vendor closed today' });
      expect(await cliAsyncWith(token, 'calls', 'withdraw', id, '--server', closed.baseUrl)).toEqual({ code: 0, out: `call ${id} (order ${orderId}) was withdrawn already\n`, err: '' });
      expect(await cliAsyncWith(token, 'calls', 'withdraw', 'call_nosuchcall', '--server', closed.baseUrl)).toEqual({ code: 1, out: '', err: 'not withdrawn: No call call_nosuchcall\n' });
      expect((await cliAsync('calls', 'withdraw', id, '--server', closed.baseUrl)).err).toBe('not withdrawn: Missing or invalid bearer token (the CLI sends API_TOKEN from its environment or .env)\n');
      // A reason is free text: one that looks like a flag is still the reason, never help or a usage error.
      for (const [n, reason] of [[1, '-- shop shut --'], [2, '-h'], [3, '--json']] as const) {
        const other = await closed.trigger(order({ order_id: `CLI-WITHDRAW-${n}` }), { authorization: `Bearer ${token.API_TOKEN}` });
        const run = await cliAsyncWith(token, 'calls', 'withdraw', other.body.call_id, '--reason', reason, '--server', closed.baseUrl);
        expect(run).toEqual({ code: 0, out: `call ${other.body.call_id} (order CLI-WITHDRAW-${n}) withdrawn: it will not be dialled\n`, err: '' });
        expect(closed.app.store.events(other.body.call_id).find((e) => e.kind === 'withdrawn')!.params).toEqual({ reason });
      }
    } finally {
      await closed.close();
    }
  });

  it('calls list prints every call of a busy hour, whole, even into a pipe, and reads past the newest', () => {
    const noResponse = storedCall(h.app.store, { orderId: 'CLI-OLD-NO-RESPONSE' }).id;
    h.db.prepare("UPDATE calls SET outcome = 'no_response', created_at = ? WHERE id = ?").run(new Date(Date.now() - 30 * 60_000).toISOString(), noResponse);
    for (let i = 0; i < 1_100; i++) storedCall(h.app.store, { orderId: `CLI-BUSY-${i}` });
    const all = cli('calls', 'list', '--since', '1h', '--json');
    expect(all.code).toBe(0);
    expect(all.out.length).toBeGreaterThan(256 * 1024);
    const listed = JSON.parse(all.out) as Array<{ order_id: string }>;
    // Every call in the database (all made within the hour): the 1,100 above and the other tests' own.
    expect(listed.length).toBe((h.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n);
    expect(listed.filter((c) => c.order_id.startsWith('CLI-BUSY-'))).toHaveLength(1_100);
    expect(listed.at(-1)!.order_id).toBe('CLI-OLD-NO-RESPONSE');
    expect(JSON.parse(cli('calls', 'list', '--since', '1h', '--outcome', 'no_response', '--json').out).map((c: { order_id: string }) => c.order_id)).toEqual(['CLI-OLD-NO-RESPONSE']);
  });

  it('outbox list says when it shows only the newest outcomes', async () => {
    const crowded = await startHarness();
    try {
      const { outbox } = crowded.app;
      const call = storedCall(crowded.app.store).id;
      crowded.db.transaction(() => {
        for (let i = 0; i <= 5_000; i++) outbox.add(`outcome_crowd${i}`, call, { outcome: 'accepted' }, null);
      })();
      const run = cliWith({ DATABASE_PATH: crowded.config.databasePath }, 'outbox', 'list', '--json');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.out)).toHaveLength(5_000);
      expect(run.err).toBe('only the newest 5000: an older outcome shows on its call (calls show <order id>)\n');
      expect(cliWith({ DATABASE_PATH: h.config.databasePath }, 'outbox', 'list').err).toBe('');
    } finally {
      await crowded.close();
    }
  });

  it('exit codes: 1 for not found, 2 for usage', () => {
    expect(cli('calls', 'show', 'NO-SUCH-ORDER')).toMatchObject({ code: 1, err: 'no call for NO-SUCH-ORDER\n' });
    expect(cli('frobnicate').code).toBe(2);
    expect(cli('calls', 'list', '--since', 'forever').code).toBe(2);
    // Further back than dates go: the same usage error, not a JavaScript one.
    expect(cli('calls', 'list', '--since', '999999999d')).toMatchObject({ code: 2, err: expect.stringMatching(/^--since takes a duration/) });
    expect(cli('sign-url', '/webhook/exotel/status?call=call_x&attempt=abc')).toMatchObject({ code: 2, out: '', err: expect.stringMatching(/^sign-url takes/) });
    // A flag without its value is a usage error, never a default.
    expect(cli('calls', 'list', '--since')).toMatchObject({ code: 2, err: expect.stringContaining('--since needs a value') });
    expect(cli('calls', 'list', '--since', '--outcome', 'accepted')).toMatchObject({ code: 2, err: expect.stringContaining('--since needs a value') });
    expect(cli('calls', 'list', '--outcome', '--json')).toMatchObject({ code: 2, err: expect.stringContaining('--outcome needs a value') });
    // A misspelt outcome is a mistake to say, not "no calls".
    expect(cli('calls', 'list', '--outcome', 'no-response')).toMatchObject({ code: 2, out: '', err: expect.stringMatching(/^--outcome takes one of pending, accepted, .*no_response, not_reached, withdrawn\n/) });
    expect(cli('simulate', '--phone', '9000000001', '--server', 'notaurl')).toMatchObject({ code: 2, err: expect.stringMatching(/^--server takes the server's http URL/) });
    expect(cli('calls', 'withdraw', 'call_x', '--server', 'ftp://host')).toMatchObject({ code: 2, err: expect.stringMatching(/^--server takes the server's http URL/) });
    // Help is an answer: on stdout, exit 0.
    for (const ask of [['--help'], ['help'], ['calls', '-h']]) expect(cli(...ask)).toMatchObject({ code: 0, err: '', out: expect.stringMatching(/^usage: exotel-caller <command>/) });
    // A file that is not the service's database: one line saying so, no stack trace.
    expect(cliWith({ DATABASE_PATH: 'README.md' }, 'calls', 'list')).toEqual({ code: 1, out: '', err: 'exotel-caller: cannot open the database at README.md: file is not a database\n' });
    expect(cli('sign-url')).toMatchObject({ code: 2, err: expect.stringMatching(/^sign-url needs the path to sign\n/) });
    // A misspelt flag is a mistake to say, never ignored (it would list every outcome, or the last 24 h).
    expect(cli('calls', 'list', '--since', '1h', '--outcom', 'no_response')).toMatchObject({ code: 2, out: '', err: expect.stringMatching(/^calls list has no flag --outcom\n/) });
    expect(cli('calls', 'show', callId, '--force')).toMatchObject({ code: 2, err: expect.stringMatching(/^calls show has no flag --force\n/) });
    expect(cli('calls', 'show', callId, 'extra')).toMatchObject({ code: 2, err: expect.stringMatching(/^calls show takes one word after it: extra is too many\n/) });
    expect(cli('calls', 'show')).toMatchObject({ code: 2, err: expect.stringMatching(/^calls show needs the call, order or event to act on\n/) });
    expect(cli('calls', 'frob')).toMatchObject({ code: 2, err: expect.stringMatching(/^unknown command: calls frob\n/) });
    // Usage is told before anything is opened: a missing database does not hide it.
    expect(cliWith({ DATABASE_PATH: '/nonexistent/x.db' }, 'frobnicate')).toMatchObject({ code: 2, err: expect.stringMatching(/^unknown command: frobnicate\n/) });
    expect(JSON.parse(cliWith({ DATABASE_PATH: '/nonexistent/x.db' }, 'calls', 'list', '--since', 'forever', '--json').out)).toEqual({ error: { exit_code: 2, message: '--since takes a duration such as 30m, 1h or 2d' } });
    expect(cliWith({ WEBHOOK_SECRET: '' }, 'sign-url', '/nope')).toMatchObject({ code: 2, out: '', err: expect.stringMatching(/^sign-url takes an ExoML path/) });
    expect(cliWith({ WEBHOOK_SECRET: '' }, 'sign-url', '/exoml/vendor-action?call=call_x')).toMatchObject({ code: 1, err: expect.stringMatching(/WEBHOOK_SECRET is not set/) });
    // With --json, a failure is JSON on stdout as well, with the exit code.
    expect(cli('calls', 'show', 'NO-SUCH-ORDER', '--json')).toEqual({ code: 1, out: `${JSON.stringify({ error: { exit_code: 1, message: 'no call for NO-SUCH-ORDER' } })}\n`, err: 'no call for NO-SUCH-ORDER\n' });
    expect(JSON.parse(cli('calls', 'list', '--outcom', 'x', '--json').out)).toEqual({ error: { exit_code: 2, message: 'calls list has no flag --outcom' } });
  });

  it("reads a database only at this build's schema, and never migrates it under the service that runs on it", () => {
    const dir = mkdtempSync(join(tmpdir(), 'exotel-caller-cli-'));
    try {
      const path = join(dir, 'calls.db');
      const older = new Database(path);
      for (const migration of MIGRATIONS.slice(0, -1)) older.exec(migration);
      older.pragma(`user_version = ${MIGRATIONS.length - 1}`);
      older.close();
      expect(cliWith({ DATABASE_PATH: path }, 'calls', 'list')).toEqual({
        code: 1,
        out: '',
        err: `exotel-caller: cannot open the database at ${path}: its schema is version ${MIGRATIONS.length - 1}, this build's is ${MIGRATIONS.length}: run the CLI of the build the service runs (a newer service brings the schema up to date when it starts)\n`,
      });
      const after = new Database(path, { readonly: true });
      expect(after.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length - 1);
      after.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('outbox retry: refused once a later outcome of the order was delivered, unless --force', () => {
    // CLI-1 is called again and that outcome reached the backend; the first one never did.
    const recall = storedCall(h.app.store, { orderId: 'CLI-1' });
    h.app.store.transaction(() => settle(h.app.callDeps, recall.id, 'cancelled'));
    h.app.outbox.delivered(`outcome_${recall.id}`);
    const withBackend = { OUTCOME_WEBHOOK_URL: 'http://127.0.0.1:9/outcomes' };
    const refused = cliWith(withBackend, 'outbox', 'retry', `outcome_${callId}`);
    expect(refused).toMatchObject({ code: 1, out: '' });
    expect(refused.err).toBe(
      `outcome_${callId}: a later outcome of its order (outcome_${recall.id}) was delivered, so this one would arrive last and look current; --force sends it anyway\n`,
    );
    expect(h.app.outbox.get(`outcome_${callId}`)).toMatchObject({ dueAt: null, deliveredAt: null });
    const forced = cliWith(withBackend, 'outbox', 'retry', `outcome_${callId}`, '--force', '--json');
    expect([forced.code, JSON.parse(forced.out)]).toEqual([0, { event_id: `outcome_${callId}`, due: true }]);
    expect(h.app.outbox.get(`outcome_${callId}`)!.dueAt).not.toBeNull();
  });
});
