// The ops CLI against a real database and a running server: the same answers as /ops, exit codes, --json.
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

function cli(...args: string[]) {
  const run = spawnSync(process.execPath, ['bin/exotel-caller.mjs', ...args], {
    env: { PATH: process.env.PATH, DATABASE_PATH: h.config.databasePath, WEBHOOK_SECRET: SECRET, PUBLIC_BASE_URL: h.baseUrl, DOTENV_CONFIG_PATH: '/nonexistent/.env' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

/** Without blocking this process: the server the CLI talks to runs in it. */
function cliAsync(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/exotel-caller.mjs', ...args], {
      env: { PATH: process.env.PATH, DATABASE_PATH: h.config.databasePath, DOTENV_CONFIG_PATH: '/nonexistent/.env' },
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
    expect(text.out).toContain('pressed 20 at prep_time');
    const json = cli('calls', 'show', callId, '--json');
    expect(JSON.parse(json.out)).toMatchObject({ call_id: callId, outcome: 'accepted', prep_time_minutes: 20, digits: [{ step: 'menu', digits: '3' }, { step: 'prep_time', digits: '20' }] });
  });

  it('calls list --since --outcome, outbox list', () => {
    expect(JSON.parse(cli('calls', 'list', '--since', '1h', '--outcome', 'accepted', '--json').out).map((c: { call_id: string }) => c.call_id)).toEqual([callId]);
    expect(JSON.parse(cli('calls', 'list', '--since', '1h', '--outcome', 'no_response', '--json').out)).toEqual([]);
    expect(JSON.parse(cli('outbox', 'list', '--json').out)).toMatchObject([{ eventId: `outcome_${callId}`, state: 'not_configured' }]);
  });

  it('sign-url gives a URL the server accepts', async () => {
    const signed = cli('sign-url', `/exoml/vendor-action?call=${callId}&turn=9`).out.trim();
    expect(signed).toMatch(/&sig=/);
    expect(h.app.links.check('/exoml/vendor-action', Object.fromEntries(new URL(signed).searchParams))).toBe('ok');
  });

  it('simulate places a call through the running server and prints what was pressed', async () => {
    const run = await cliAsync('simulate', '--phone', '9000000002', '--server', h.baseUrl);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('outcome cancelled');
    expect(run.out).toContain('pressed 2 at menu');
  });

  it('exit codes: 1 for not found, 2 for usage', () => {
    expect(cli('calls', 'show', 'NO-SUCH-ORDER')).toMatchObject({ code: 1, err: 'no call for NO-SUCH-ORDER\n' });
    expect(cli('frobnicate').code).toBe(2);
    expect(cli('calls', 'list', '--since', 'forever').code).toBe(2);
    // A flag without its value is a usage error, never a default.
    expect(cli('calls', 'list', '--since')).toMatchObject({ code: 2, err: expect.stringContaining('--since needs a value') });
    expect(cli('calls', 'list', '--since', '--outcome', 'accepted')).toMatchObject({ code: 2, err: expect.stringContaining('--since needs a value') });
    expect(cli('calls', 'list', '--outcome', '--json')).toMatchObject({ code: 2, err: expect.stringContaining('--outcome needs a value') });
  });
});
