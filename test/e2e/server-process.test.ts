// The real process, as `npm start` runs it: no credentials, so the built-in simulator stands in for Exotel.
// A call placed over HTTP ends accepted; SIGTERM stops it cleanly; the log lines ops grep for are there,
// with no secret, signature or full phone number in them.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { testPrompts } from '../helpers/prompts.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/harness.js';

const API_TOKEN = 'process-test-api-token-0123456789abcdef';
const WEBHOOK_SECRET = 'process-test-webhook-secret-0123456789';
let child: ChildProcess;
let base: string;
let output: () => string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'exotel-caller-process-'));
  const started = await startServer({ DATABASE_PATH: join(dir, 'db', 'calls.db'), API_TOKEN, WEBHOOK_SECRET, DOTENV_CONFIG_PATH: join(dir, 'no.env') });
  child = started.child;
  base = `http://127.0.0.1:${started.port}`;
  output = started.output;
});

/**
 * `npm start`'s server in its own process, on a port found free just before it starts. Another test's socket
 * can take that port meanwhile (EADDRINUSE): a server that stops before it is ready starts again on another.
 */
async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    const server = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    server.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    server.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    for (let i = 0; i < 300 && !out.includes('Exotel caller ready') && server.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100));
    if (out.includes('Exotel caller ready')) return { child: server, port, output: () => out };
    server.kill('SIGKILL');
    if (tries >= 3 || !out.includes('EADDRINUSE')) throw new Error(`the server did not start:\n${out}`);
  }
}

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const auth = { authorization: `Bearer ${API_TOKEN}` };

describe('npm start on its embedded default', () => {
  it('places a simulated call that ends accepted, readable back over the API', async () => {
    const placed = await request(`${base}/api/call/vendor-order?vendor_phone=9000000003&vendor_name=Test&order_id=P-1&order_amount=550&items=Tomato`, {
      method: 'POST',
      headers: auth,
    });
    const body = (await placed.body.json()) as { success: boolean; call_sid: string };
    expect(placed.statusCode).toBe(200);
    let call: Record<string, unknown> = {};
    for (let i = 0; i < 100 && call.status !== 'completed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const read = await request(`${base}/api/calls/${body.call_sid}`, { headers: auth });
      call = ((await read.body.json()) as { call: Record<string, unknown> }).call;
    }
    expect(call).toMatchObject({ status: 'completed', outcome: 'accepted', prep_time_minutes: 20, order_id: 'P-1' });
  });

  it('logs the lines ops grep for, with call and order ids, and never a secret or a full number', async () => {
    // The log reaches us through a pipe: wait for the status line, and read whole lines only.
    for (let i = 0; i < 50 && !output().includes('Call status: completed'); i++) await new Promise((r) => setTimeout(r, 100));
    const complete = output().slice(0, output().lastIndexOf('\n'));
    const lines = complete.split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const messages = lines.map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['Call initiated', 'ExoML greeting requested', 'Vendor pressed: 3', 'Vendor pressed: 20', 'Call outcome: accepted']));
    for (const msg of ['Call initiated', 'ExoML greeting requested', 'Vendor pressed: 3']) {
      expect(lines.find((line) => line.msg === msg)).toMatchObject({ call_id: expect.any(String), order_id: 'P-1', call_sid: expect.any(String) });
    }
    expect(output()).not.toContain(API_TOKEN);
    expect(output()).not.toContain(WEBHOOK_SECRET);
    expect(output()).not.toMatch(/sig=/);
    // The number as a number, not digits inside another one (a responseTime of 8.95559000000003 once matched).
    expect(output()).not.toMatch(/(?<![\d.])(\+?91|0)?9000000003(?!\d)/);
    expect(output()).toContain('******0003');
  });

  it('on a live account in ExoML mode, says at start how to tell that Exotel is not running our URL', async () => {
    // Fake credentials and a loopback address that answers nothing: no call is placed, nothing leaves the host.
    const live = { EXOTEL_ACCOUNT_SID: 'fakeaccount0000', EXOTEL_API_KEY: 'fake-key-0000', EXOTEL_API_TOKEN: 'fake-token-0000', EXOTEL_CALLER_ID: '08000000000', EXOTEL_API_BASE_URL: 'http://127.0.0.1:9', PUBLIC_BASE_URL: 'https://caller.example.test' };
    for (const [mode, warned] of [['exoml', true], ['applet', false]] as const) {
      const extra: Record<string, string> = mode === 'applet' ? { EXOTEL_APP_ID: '123456', APPLET_PATH_TOKEN: 'live-mode-test-applet-path-token-0123456789' } : {};
      const { child: server, output: out } = await startServer({ ...live, ...extra, EXOTEL_MODE: 'live', EXOTEL_FLOW_MODE: mode, DATABASE_PATH: join(dir, `live-${mode}`, 'calls.db'), DOTENV_CONFIG_PATH: join(dir, 'no.env') });
      try {
        const warning = out().split('\n').filter((line) => line.includes('EXOTEL_FLOW_MODE=exoml on a live account'));
        expect([mode, warning.length]).toEqual([mode, warned ? 1 : 0]);
        if (warned) expect(JSON.parse(warning[0]!)).toMatchObject({ level: 40, flow_mode: 'exoml' });
        expect(out()).not.toContain('fake-token-0000');
      } finally {
        server.kill('SIGTERM');
      }
    }
  });

  it('places a simulated call in applet mode too (EXOTEL_FLOW_MODE=applet npm start)', async () => {
    const { child: applet, port, output: out } = await startServer({ DATABASE_PATH: join(dir, 'applet', 'calls.db'), EXOTEL_FLOW_MODE: 'applet', DOTENV_CONFIG_PATH: join(dir, 'no.env') });
    try {
      const placed = await request(`http://127.0.0.1:${port}/api/call/vendor-order?vendor_phone=9000000005&vendor_name=Test&order_id=A-1&order_amount=1`, { method: 'POST' });
      const { call_sid } = (await placed.body.json()) as { call_sid: string };
      let call: Record<string, unknown> = {};
      for (let i = 0; i < 100 && call.status !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        call = ((await (await request(`http://127.0.0.1:${port}/api/calls/${call_sid}`)).body.json()) as { call: Record<string, unknown> }).call;
      }
      expect(call).toMatchObject({ status: 'completed', outcome: 'accepted', prep_time_minutes: 25 });
      expect(out()).toContain('"flow_mode":"applet"');
      // The applet path token is a secret: request lines show /applet/<token>/…
      expect(out()).toContain('/applet/<token>/gather');
      expect(out()).not.toContain('simulated-applet-path-token-not-a-secret');
    } finally {
      applet.kill('SIGTERM');
    }
  });

  it('places a simulated call in voicebot mode too (EXOTEL_FLOW_MODE=voicebot PROMPTS_DIR=… npm start)', async () => {
    const prompts = testPrompts();
    const { child: voicebot, port, output: out } = await startServer({ DATABASE_PATH: join(dir, 'voicebot', 'calls.db'), EXOTEL_FLOW_MODE: 'voicebot', PROMPTS_DIR: prompts.dir, DOTENV_CONFIG_PATH: join(dir, 'no.env') });
    try {
      const placed = await request(`http://127.0.0.1:${port}/api/call/vendor-order?vendor_phone=9000000003&vendor_name=Test&order_id=9101&order_amount=1`, { method: 'POST' });
      const { call_sid } = (await placed.body.json()) as { call_sid: string };
      let call: Record<string, unknown> = {};
      for (let i = 0; i < 200 && call.status !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        call = ((await (await request(`http://127.0.0.1:${port}/api/calls/${call_sid}`)).body.json()) as { call: Record<string, unknown> }).call;
      }
      expect(call).toMatchObject({ status: 'completed', outcome: 'accepted', prep_time_minutes: 20 });
      expect(out()).toContain('"flow_mode":"voicebot"');
      expect(out()).toContain('Voicebot stream started');
      // The path token is a secret: the stream's request line shows /voicebot/<token>.
      expect(out()).toContain('/voicebot/<token>');
      expect(out()).not.toContain('simulated-applet-path-token-not-a-secret');
      const exited = new Promise<number | null>((resolve) => voicebot.once('exit', (code) => resolve(code)));
      voicebot.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      voicebot.kill('SIGKILL');
      prompts.remove();
    }
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output()).toContain('"msg":"stopped"');
  });
});
